"""The description bank: every training label is in it, lookups normalise as promised, and the data
keeps the shape and quality rules that training and the recogniser rely on."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from neuron_core import description_bank as db
from neuron_core.errors import DescriptionError
from neuron_core.prompts import GRANULARITIES, side_information
from neuron_core.text_encoders import HashingEncoder

ROOT = Path(__file__).resolve().parent.parent

BANDAI = [
    "bow", "call out", "dance", "dash", "kick", "punch", "raise both hands", "raise left hand",
    "raise right hand", "run", "show the way", "slash with a sword", "walk", "walk and turn left",
    "walk and turn right", "walk backward", "walk to the left", "walk to the right", "wave both hands",
    "wave goodbye", "wave goodbye with both hands", "wave left hand", "wave right hand", "wave hands",
    "respond", "guide", "bye",
]  # fmt: skip
NW_UCLA = [
    "pick up with one hand", "pick up with two hands", "drop trash", "walk around", "sit down",
    "stand up", "donning", "doffing", "throw", "carry",
]  # fmt: skip
UTKINECT = [
    "walk", "sit down", "stand up", "pick up", "carry", "throw", "push", "pull", "wave hands", "clap hands",
]  # fmt: skip
H36M = [
    "buying something", "discussing", "eating", "giving directions", "greeting someone", "posing",
    "sitting down on the floor", "sitting on a chair", "smoking", "taking a photo",
    "talking on the phone", "waiting", "walking", "walking a dog", "walking together",
]  # fmt: skip
CMU8 = [
    "directing traffic", "dribbling a basketball", "jumping", "making basketball signals",
    "playing soccer", "walking", "washing a window",
]  # fmt: skip
ASE = [
    "attack with a four-hit sword combo", "attack with a three-hit sword combo",
    "attack with a two-hit sword combo", "bang the sword against the shield",
    "block high with a shield", "block low with a shield", "block to the side with a shield",
    "block with a shield while stepping back", "charge forward with a shield",
    "circle around an opponent", "counterattack with a sword", "crouch and block with a shield",
    "crouch and parry with a sword", "dodge backward", "dodge to the left", "dodge to the right",
    "fall backward and get up", "fall sideways and get up", "feint an attack",
    "finish off with a four-hit sword combo", "finish off with a three-hit sword combo",
    "finish off with a two-hit sword combo", "jog", "jump and strike with a sword", "kick",
    "parry high with a sword", "parry low with a sword", "parry to the side with a sword",
    "parry with a sword while stepping back", "pound the chest", "roar", "run", "run backward",
    "run forward", "run to the left", "run to the right", "slash downward with a sword",
    "slash to the left with a sword", "slash to the right with a sword", "slash upward with a sword",
    "spin and slash with a sword", "spin to the left, fall and get up",
    "spin to the right, fall and get up", "stab with a sword", "stand in a fighting stance",
    "stand on guard", "stand ready with sword and shield", "swing a sword", "swipe with a shield",
    "turn around to the left", "turn around to the right", "turn left", "turn right", "walk",
    "walk backward", "walk forward", "walk to the left", "walk to the right",
]  # fmt: skip
DEEPMIMIC = [
    "crawl on hands and knees", "dance", "dance and spin around", "do a backflip", "do a cartwheel",
    "do a side flip", "get up from lying face down", "get up from lying on the back", "jog", "jump",
    "kick", "punch", "punch to the left", "roll forward on the ground", "run", "run and turn left",
    "run and turn right", "run forward", "spin around", "spin kick", "step forward and punch", "walk",
    "walk like a zombie", "walk stealthily",
]  # fmt: skip
CMU_BVH = [
    "ballet dance with a big turning leap", "ballet dance with a turning leap",
    "ballet dance with an arabesque and a turn",
    "ballet dance with an arabesque, a turning leap and bending back",
    "ballet dance with an arabesque, bending back",
    "ballet dance with arms held high, turning the upper body",
    "ballet dance with gliding steps and an arabesque", "ballet dance with pirouettes and a leap",
    "ballet dance with small leaps and a pirouette",
    "ballet dance with small leaps, an arabesque and a pirouette",
    "ballet dance, circle a leg in the air, leap and turn",
    "ballet dance, lift a leg behind and hold an arabesque",
    "ballet dance, raise a leg above the hip and leap turning",
    "bend over, scoop something up and lift an arm", "climb and jump down",
    "climb, sit with legs dangling and lower self to the ground",
    "dance sideways steps and a pirouette", "dance with expressive arms and a pirouette",
    "dribble a basketball and shoot", "dribble a basketball and turn left",
    "dribble a basketball and turn right", "dribble a basketball backward",
    "dribble a basketball forward", "dribble a basketball sideways",
    "dribble a basketball, turn right and cross over", "fight with a sword", "jog", "jump",
    "jump and balance", "jump forward", "jump forward and turn around",
    "jump up to grab, reach and stand on tiptoe", "punch and strike", "run", "walk", "walk briskly",
    "walk on uneven terrain", "walk slowly", "walk slowly with long strides",
    "walk with exaggerated strides", "walk with long strides", "wash oneself",
]  # fmt: skip
# Names of other common sets (UTD-MHAD, MSR Action3D) that the bank promises too.
OTHER_SETS = [
    "swipe left", "swipe right", "wave", "clap", "arm cross", "basketball shoot", "draw x",
    "draw circle clockwise", "draw circle counter clockwise", "draw triangle", "bowling", "boxing",
    "baseball swing", "tennis swing", "arm curl", "tennis serve", "knock", "catch", "pickup and throw",
    "sit to stand", "stand to sit", "lunge", "squat", "high arm wave", "horizontal arm wave", "hammer",
    "hand catch", "forward punch", "high throw", "draw tick", "draw circle", "hand clap",
    "two hand wave", "side-boxing", "bend", "forward kick", "side kick", "jogging", "golf swing",
    "pick up and throw", "push-ups", "sit-ups", "jumping jacks", "burpees", "plank",
    "mountain climbers", "cartwheel", "handstand",
]  # fmt: skip
# NTU names as commonly written, and other sets' and everyday vocabularies the bank promises.
COMMON_NAMES = [
    "put on jacket", "take off jacket", "put on a shoe", "take off a shoe", "put on a hat",
    "take off a hat", "hand waving", "kicking something", "reach into pocket", "make a phone call",
    "play with phone", "typing on a keyboard", "taking a selfie", "check time", "rub two hands",
    "nod head", "put palms together", "sneeze/cough", "staggering", "falling", "touch head",
    "touch chest", "touch back", "touch neck", "nausea or vomiting", "use a fan",
    "punching other person", "kicking other person", "pushing other person",
    "point finger at the other person", "hugging other person", "giving something",
    "touch other person's pocket", "handshaking", "walking towards each other", "walking apart",
    "shoot at the basket", "juggling table tennis balls", "snapping fingers",
    "apply cream on hand back", "put something into a bag", "take something out of a bag",
    "throw up cap/hat", "hands up", "running on the spot", "hit other person with something",
    "wield knife towards other person", "knock over other person", "grab other person's stuff",
    "shoot at other person with a gun", "carry something with other person",
    "take a photo of other person", "follow other person", "whisper in other person's ear",
    "exchange things with other person", "support somebody with hand", "finger-guessing game",
    "side lunges", "stretching", "dancing", "pitching a baseball", "batting", "punching a bag",
    "kicking a ball", "dribbling", "shooting a basketball", "tennis forehand", "tennis backhand",
    "badminton", "volleyball spike", "skipping", "hopscotch", "climbing stairs", "climbing a ladder",
    "lying down", "getting up", "crawling", "tai chi", "karate kick", "sitting", "standing", "greeting",
    "bowing", "waving goodbye", "pointing", "cleaning a window", "sweeping the floor", "mopping",
    "vacuuming", "cooking", "stirring", "cutting", "lifting a box", "carrying a bag", "pushing a cart",
    "pulling a rope", "opening a door", "knocking on a door", "typing", "writing on a board",
    "reading a book", "taking a photo", "walking a dog", "drink from a bottle", "answer phone",
    "read watch", "tight lace", "one hand waving", "one hand punching", "two hand punching",
    "holding head", "irregular walking", "phone answering", "putting down", "approaching", "departing",
    "exchanging", "swimming", "jumping rope", "yoga", "tree pose",
]  # fmt: skip
TRAINING_LABELS = sorted(set(BANDAI + NW_UCLA + UTKINECT + H36M + CMU8 + ASE + DEEPMIMIC + CMU_BVH))
WORDS = re.compile(r"[A-Za-z0-9'-]+")


@pytest.fixture(scope="module")
def bank() -> db.DescriptionBank:
    return db.load_bank()


def test_bank_is_large_and_ships_as_package_data(bank: db.DescriptionBank) -> None:
    assert len(bank) >= 300
    assert db.BANK_PATH.parent.name == "data" and db.BANK_PATH.is_file()
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'neuron_core\s*=\s*\[\s*"data/\*\.json"\s*\]', pyproject)


@pytest.mark.parametrize("label", TRAINING_LABELS)
def test_every_training_label_resolves_exactly(bank: db.DescriptionBank, label: str) -> None:
    assert bank.lookup(label) is not None, label


def test_every_ntu_nw_ucla_and_utkinect_class_resolves(bank: db.DescriptionBank) -> None:
    from pose.readers.ntu import NTU120_CLASSES
    from pose.readers.nw_ucla import NW_UCLA_CLASSES
    from pose.readers.utkinect import UTKINECT_CLASSES

    missing = [c for c in (*NTU120_CLASSES, *NW_UCLA_CLASSES, *UTKINECT_CLASSES) if bank.entry(c) is None]
    assert not missing


@pytest.mark.parametrize("label", OTHER_SETS)
def test_other_sets_names_resolve(bank: db.DescriptionBank, label: str) -> None:
    assert bank.entry(label) is not None, label


def test_common_names_resolve(bank: db.DescriptionBank) -> None:
    assert [name for name in COMMON_NAMES if bank.entry(name) is None] == []


def test_distinct_training_classes_of_one_set_get_distinct_entries(bank: db.DescriptionBank) -> None:
    # Two classes of one data set sharing an entry would get identical texts: the model could not
    # tell them apart from the text side.
    for labels in (BANDAI, NW_UCLA, UTKINECT, H36M, CMU8, ASE, DEEPMIMIC, CMU_BVH):
        names = [bank.entry(label).name for label in labels]
        assert len(set(names)) == len(set(labels)), [n for n in names if names.count(n) > 1]


@pytest.mark.parametrize(
    ("typed", "known"),
    [
        ("Walking", "walk"),
        ("walks", "walk"),
        ("walked", "walk"),
        ("doing squats", "squat"),
        ("squats", "squat"),
        ("waving one hand", "wave one hand"),
        ("sitting down", "sit down"),
        ("Someone is sitting down.", "sit down"),
        ("a person drinking the water", "drink water"),
        ("to stand up", "stand up"),
        ("Jumping Jacks!", "jumping jacks"),
        ("check time (from watch)", "check time"),
        ("brushing his teeth", "brush teeth"),
        ("lying down", "lie down"),
        ("clapping", "clap"),
        ("Running", "run"),
        ("HOPPING", "hopping"),
    ],
)
def test_morphological_variants_resolve_to_the_same_entry(
    bank: db.DescriptionBank, typed: str, known: str
) -> None:
    entry = bank.entry(typed)
    assert entry is not None and entry is bank.entry(known), (typed, known)


def test_normaliser_is_small_and_predictable() -> None:
    assert db.normalise_label("A person  WAVING, hands!") == db.normalise_label("wave hand")
    assert db.normalise_label("other person's pocket") == db.normalise_label("other persons pockets")
    assert db.normalise_label("doing") == ""
    assert db.normalise_label("sit down") != db.normalise_label("stand up")
    assert db.normalise_label("kick") != db.normalise_label("kicking something")


@pytest.mark.parametrize("nonsense", ["zxqv", "", "   ", "the", "walk zxqv"])
def test_unknown_labels_are_none(bank: db.DescriptionBank, nonsense: str) -> None:
    assert bank.lookup(nonsense) is None


def test_module_level_lookup_uses_the_shipped_bank() -> None:
    assert db.lookup("walk") == db.load_bank().lookup("walk")
    assert db.lookup("zxqv") is None


def test_lookup_returns_the_side_information_shape(bank: db.DescriptionBank) -> None:
    entry = bank.entry("wave one hand")
    info = bank.lookup("wave one hand")
    assert tuple(info) == GRANULARITIES
    p1, p2, p3 = (entry.texts[k] for k in db.PHASE_KEYS)
    assert info["temporal_p1"] == list(p1)
    assert info["temporal_p12"] == [f"{a} {b}" for a, b in zip(p1, p2, strict=True)]
    assert info["temporal_p123"] == [f"{a} {b} {c}" for a, b, c in zip(p1, p2, p3, strict=True)]
    # And it plugs into the existing prompt code as its ``descriptions``.
    texts = side_information("Wave one hand", {"Wave one hand": info}, k=4)
    assert texts["spatial_fine"] == [entry.texts["spatial_fine"][i % 2] for i in range(4)]
    assert bank.descriptions(["wave one hand", "zxqv"]) == {"wave one hand": info}


def test_every_entry_has_six_lists_of_good_sentences(bank: db.DescriptionBank) -> None:
    problems = []
    for entry in bank.entries:
        assert set(entry.texts) == set(db.ENTRY_KEYS)
        for key, texts in entry.texts.items():
            if len(texts) != 2:
                problems.append(f"{entry.name}/{key}: {len(texts)} texts, expected 2")
            for text in texts:
                words = len(WORDS.findall(text))
                if not 8 <= words <= 25:
                    problems.append(f"{entry.name}/{key}: {words} words: {text}")
                if not text[0].isupper() or not text.endswith(".") or re.search(r"[.!?;]\s", text):
                    problems.append(f"{entry.name}/{key}: not one sentence: {text}")
            if len(set(texts)) != len(texts):
                problems.append(f"{entry.name}/{key}: repeated text")
    assert not problems, "\n".join(problems[:20])


def test_names_and_aliases_are_unique_across_entries(bank: db.DescriptionBank) -> None:
    owner: dict[str, str] = {}
    for entry in bank.entries:
        for surface in (entry.name, *entry.aliases):
            key = db.normalise_label(surface)
            assert owner.setdefault(key, entry.name) == entry.name, (surface, owner[key], entry.name)


def test_a_clashing_alias_is_refused() -> None:
    texts = {k: ("One sentence about the moving arms and legs here.",) for k in db.ENTRY_KEYS}
    a = db.BankEntry("walk", ("stroll",), texts)
    b = db.BankEntry("amble", ("walking",), texts)
    with pytest.raises(DescriptionError, match="clashes"):
        db.DescriptionBank([a, b])


def test_a_malformed_bank_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bank.json"
    path.write_text('{"entries": [{"name": "walk", "spatial_coarse": ["x"]}]}', encoding="utf-8")
    with pytest.raises(DescriptionError, match="spatial_medium"):
        db.DescriptionBank.from_file(path)
    with pytest.raises(DescriptionError, match="does not exist"):
        db.DescriptionBank.from_file(tmp_path / "absent.json")


_SIDE = re.compile(r"\b(left|right)(?:wards?)?\b", re.IGNORECASE)  # "leftward" names a side too


def _sides(text: str) -> set[str]:
    return {m.lower() for m in _SIDE.findall(text)}


def test_left_and_right_entries_describe_their_own_side_and_have_a_mirror(bank: db.DescriptionBank) -> None:
    lateral = [e for e in bank.entries if len(_sides(e.name)) == 1]
    assert len(lateral) >= 20
    for entry in lateral:
        (side,) = _sides(entry.name)
        other = "right" if side == "left" else "left"
        all_text = " ".join(t for texts in entry.texts.values() for t in texts)
        assert side in _sides(all_text), f"{entry.name} never mentions {side}"
        assert other not in _sides(all_text), f"{entry.name} mentions {other}"
        mirror = bank.entry(re.sub(rf"\b{side}\b", other, entry.name))
        assert mirror is not None and mirror is not entry, f"{entry.name} has no mirror entry"
        assert mirror.texts != entry.texts


def test_left_and_right_raise_differ(bank: db.DescriptionBank) -> None:
    left, right = bank.lookup("raise left hand"), bank.lookup("raise right hand")
    assert left != right
    assert "left" in " ".join(left["spatial_fine"]) and "right" in " ".join(right["spatial_fine"])


class CountingHashingEncoder(HashingEncoder):
    """The project's word-hashing stand-in, counting texts encoded (to see the bank's cache work)."""

    def __init__(self, dim: int = 2048) -> None:
        super().__init__(dim)
        self.name = f"counting-hash-{dim}"
        self.encoded = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded += len(texts)
        return super().encode(texts)


def test_near_lookup_finds_the_nearest_entry_and_respects_the_threshold(bank: db.DescriptionBank) -> None:
    encoder = CountingHashingEncoder()
    # Shares three of four words with "wave one hand": cosine about 0.87 in the hashing space.
    found = bank.near_entry("wave one hand slowly", encoder, threshold=0.8)
    assert found is not None and found[0] is bank.entry("wave one hand")
    assert 0.8 <= found[1] < 0.95
    assert bank.near_entry("wave one hand slowly", encoder, threshold=0.95) is None
    assert bank.near_lookup("wave one hand slowly", encoder, 0.8) == bank.lookup("wave one hand")
    assert bank.near_lookup("zxqv blorp", encoder) is None


def test_near_lookup_prefers_an_exact_match_and_caches_the_bank_embeddings(bank: db.DescriptionBank) -> None:
    encoder = CountingHashingEncoder(dim=1024)
    assert bank.near_entry("Walking", encoder) == (bank.entry("walk"), 1.0)
    assert encoder.encoded == 0  # an exact match needs no encoder
    bank.near_entry("wave one hand slowly", encoder, 0.8)
    first = encoder.encoded
    bank.near_entry("wave one hand gently", encoder, 0.8)
    assert encoder.encoded == first + 1  # only the label: the bank's vectors are cached
    assert db.near_lookup("walk", encoder) == db.lookup("walk")
