"""Teaching by example: prototypes, the text/example mix, the recogniser with examples, the few-shot
measurement (examples only ever from other groups) and ``evaluate --examples`` on real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from neuron_core.errors import ModelError
from neuron_core.examples import combine, example_prototype, few_shot_metrics, fused_cosines
from neuron_core.recognizer import ZeroShotRecognizer
from pose.normalize import Preprocess
from tests.conftest import shared_path
from tests.doubles import CountingEncoder, make_meta, tiny_model, windows
from tests.test_app_cli import random_checkpoint  # noqa: F401 (a shared fixture)
from tests.test_evaluate import _evaluate, tiny_checkpoint  # noqa: F401 (a shared fixture)

D = 8


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_prototype_is_the_unit_mean_per_step() -> None:
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((3, 6, D)).astype(np.float32)
    proto = example_prototype(emb)
    assert proto.shape == (6, D)
    np.testing.assert_allclose(np.linalg.norm(proto, axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(proto, _unit(_unit(emb).mean(0)), rtol=1e-5)
    with pytest.raises(ModelError):
        example_prototype(np.zeros((0, 6, D), np.float32))


def test_combine_leaves_untaught_labels_alone_and_mixes_taught_ones() -> None:
    text = np.array([[1.0, 0.5, 0.2]], np.float32)
    ex = np.array([[9.0, 9.0, 1.9]], np.float32)
    has = np.array([False, False, True])
    out = combine(text, ex, has, weight=0.5, baseline=0.1)
    np.testing.assert_allclose(out[0, :2], text[0, :2])  # no examples: the text score, whatever ex says
    np.testing.assert_allclose(out[0, 2], 0.5 * 0.2 + 0.5 * (1.9 - 2 * 0.1), rtol=1e-6)
    np.testing.assert_allclose(combine(text, ex, has, weight=0.0), text)
    with pytest.raises(ModelError):
        combine(text, ex, has, weight=1.5)


@pytest.fixture
def recognizer() -> ZeroShotRecognizer:
    torch.manual_seed(0)
    return ZeroShotRecognizer(tiny_model(), make_meta(), CountingEncoder(), k=4)


def test_recognizer_examples_move_scores_toward_the_taught_label(recognizer: ZeroShotRecognizer) -> None:
    recognizer.set_labels(["wave", "jump", "my warm-up 3"])
    query = windows(4, seed=1)
    before = recognizer.scores(query)
    assert recognizer.example_counts() == {"wave": 0, "jump": 0, "my warm-up 3": 0}

    # The examples are the very windows scored (an extreme case): the taught label must gain.
    assert recognizer.set_examples("My  warm-up 3", query) == 4  # matched like labels are
    after = recognizer.scores(query)
    assert recognizer.example_counts()["my warm-up 3"] == 4
    assert (after[:, 2] > before[:, 2]).all()
    np.testing.assert_allclose(after.sum(1), 1.0, rtol=1e-5)

    # The mix is the one neuron_core.examples defines, in logit units.
    emb = recognizer.embed(query)
    text = fused_cosines(emb, recognizer._snapshot()[1])
    ex = fused_cosines(emb, example_prototype(emb)[None].repeat(3, 0))
    scale = recognizer.model.logit_scale.item()
    logits = combine(text, ex, np.array([False, False, True]), recognizer.example_weight,
                     recognizer.example_baseline) * scale  # fmt: skip
    expected = torch.softmax(torch.from_numpy(logits), 1).numpy()
    np.testing.assert_allclose(after, expected, rtol=1e-4, atol=1e-6)

    assert recognizer.set_examples("my warm-up 3", None) == 0
    np.testing.assert_allclose(recognizer.scores(query), before, rtol=1e-5, atol=1e-7)


def _two_groups() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two classes whose look is swapped between two groups: examples from a query's own group would
    be perfect, examples from the other group always wrong."""
    u, v = np.eye(D, dtype=np.float32)[0], np.eye(D, dtype=np.float32)[1]
    emb = np.stack([u, v, v, u] * 5)[:, None].repeat(6, 1)
    labels = np.array([0, 1, 0, 1] * 5)
    groups = np.array(["a", "a", "b", "b"] * 5)
    text = np.zeros((2, 6, D), np.float32)
    return emb, labels, groups, text


def test_few_shot_examples_come_only_from_other_groups() -> None:
    emb, labels, groups, text = _two_groups()
    res = few_shot_metrics(emb, labels, groups, text, ["x", "y"], shots=(1, 3), seed=0, weight=1.0)
    assert res["1_shot"]["top1"] == 0.0 and res["3_shot"]["top1"] == 0.0  # a leak would give 1.0
    assert res["zero_shot"]["top5"] == 1.0 and res["queries"] == 20 and res["groups"] == 2


def test_few_shot_more_examples_help_where_classes_cluster() -> None:
    rng = np.random.default_rng(0)
    centres = _unit(rng.standard_normal((6, D)))
    labels = np.repeat(np.arange(6), 12)
    emb = _unit(centres[labels][:, None] + 0.9 * rng.standard_normal((len(labels), 6, D))).astype(np.float32)
    groups = np.tile(np.arange(4), 18)
    text = _unit(rng.standard_normal((6, 6, D))).astype(np.float32)  # names that say nothing
    res = few_shot_metrics(emb, labels, groups, text, list("abcdef"), shots=(1, 5), seed=0, weight=1.0)
    assert res["zero_shot"]["top1"] < res["1_shot"]["top1"] < res["5_shot"]["top1"]
    assert res["5_shot"]["mean_examples_per_class"] == 5.0
    again = few_shot_metrics(emb, labels, groups, text, list("abcdef"), shots=(1, 5), seed=0, weight=1.0)
    assert again == res  # seeded


@pytest.fixture(scope="module")
def nw_ucla_split(tmp_path_factory) -> tuple[Path, Path]:
    """Real NW-UCLA clips of four actions under names no text encoder can know ("move 1" ...):
    subject 1's to score, three of subject 2's per action as the examples."""
    from pose.readers.nw_ucla import read_nw_ucla_json
    from pose.skeleton import save_npz

    src = shared_path("nw_ucla", "all_sqe")
    root = tmp_path_factory.mktemp("few_shot")
    for subject, dest, count in (("s01", "scored", 6), ("s02", "examples", 3)):
        for n, action in enumerate(("a01", "a04", "a05", "a06"), 1):
            for path in sorted(src.glob(f"{action}_{subject}_*_v01.json"))[:count]:
                clip = read_nw_ucla_json(path)
                clip.label = f"move {n}"
                (root / dest / action).mkdir(parents=True, exist_ok=True)
                save_npz(clip, root / dest / action / f"{path.stem}.npz")
    return root / "scored", root / "examples"


@pytest.mark.slow
def test_evaluate_with_examples_beats_the_names_alone(nw_ucla_split, capsys) -> None:
    """The shipped (any trained) model: names that say nothing leave it near chance; examples of
    other people doing the actions must lift top-1 well above that."""
    from neuron_core.checkpoint import DEFAULT_CHECKPOINT

    if not Path(DEFAULT_CHECKPOINT).exists():
        pytest.skip(f"the default model {DEFAULT_CHECKPOINT} is not installed")
    scored, examples = nw_ucla_split
    args = ["--checkpoint", str(DEFAULT_CHECKPOINT), "--skeletons", str(scored)]
    code, out, err = _evaluate(capsys, *args)
    assert code == 0, err
    zero = json.loads(out)
    code, out, err = _evaluate(capsys, *args, "--examples", str(examples))
    assert code == 0, err
    taught = json.loads(out)
    assert taught["examples_per_label"] == dict.fromkeys(zero["labels"], 3)
    assert taught["files"] == zero["files"] and "examples_per_label" not in zero
    assert taught["overall"]["top1"] > zero["overall"]["top1"] + 0.25, (zero["overall"], taught["overall"])


def test_evaluate_with_examples_of_unknown_labels_fails_in_one_line(
    tiny_checkpoint,  # noqa: F811 (the shared fixture imported above)
    nw_ucla_split,
    tmp_path,
    capsys,
) -> None:
    from pose.skeleton import Skeleton, save_npz

    scored, _ = nw_ucla_split
    other = tmp_path / "other"
    other.mkdir()
    save_npz(Skeleton.from_single(np.full((20, 25, 3), 0.1, np.float32), label="juggle"), other / "j.npz")
    code, out, err = _evaluate(
        capsys, "--checkpoint", str(tiny_checkpoint), "--skeletons", str(scored), "--examples", str(other)
    )
    assert code == 2 and out == ""
    last = err.replace("\r", "\n").strip().splitlines()[-1]  # after the progress bar's remains
    assert last.startswith("error: ") and "none of the examples' labels" in last and "Traceback" not in err


# ---------------------------------------------------------------------------------------------------
# the window: record an example, keep it, restore it, and see the ranking move


@pytest.fixture(scope="module")
def gui_recognizer(random_checkpoint: Path):  # noqa: F811 (the shared fixture imported above)
    from app.config import LiveConfig
    from app.session import load_recognizer

    return load_recognizer(LiveConfig(checkpoint=random_checkpoint, backend="torch"), ["wave"])


@pytest.mark.slow
def test_recording_an_example_in_the_window_stores_restores_and_moves_the_ranking(
    qtbot, qapp, gui_recognizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("pytestqt", reason="pytest-qt is not installed")
    from PyQt6.QtCore import Qt

    from app.config import LiveConfig
    from app.label_store import CONFIG_ENV, EXAMPLES_DIR
    from pose.skeleton import load_npz
    from tests.test_app_gui import open_window

    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "config"))
    replay = shared_path("ntu_skeletons", "S015C003P007R001A023.skeleton")  # hand waving, one person
    config = LiveConfig(skeleton_file=replay, loop=True, labels=["wave", "sit down", "jump", "kick"])
    window = open_window(qtbot, qapp, gui_recognizer, config)
    seen: list = []
    window.pipeline.sinks.append(seen.append)
    window.start()
    qtbot.waitUntil(lambda: len(seen) >= 12, timeout=60_000)

    def mean_score(preds) -> float:
        return float(np.mean([dict(p.scores)["sit down"] for p in preds if p.scores]))

    before = mean_score(seen[4:])
    # Select "sit down" and teach it with the waving the replay shows: countdown, then 2 s kept.
    window.label_list.setCurrentItem(window.label_list.findItems("sit down", Qt.MatchFlag.MatchExactly)[0])
    window.countdown_s, window.record_s = 0.3, 2.0
    qtbot.mouseClick(window.record_button, Qt.MouseButton.LeftButton)
    assert window.recorder is not None and not window.record_button.isEnabled()
    qtbot.waitUntil(lambda: window.video.countdown is not None and "Recording" in window.video.countdown,
                    timeout=5_000)  # fmt: skip
    qtbot.waitUntil(lambda: window.recorder is None, timeout=15_000)
    assert window.examples.count("sit down") == 1, window.message.text()
    files = list((tmp_path / "config" / EXAMPLES_DIR).rglob("*.npz"))
    assert len(files) == 1 and not list((tmp_path / "config").rglob("*.tmp"))
    clip = load_npz(files[0])
    assert clip.label == "sit down" and clip.fps == 30.0 and 1.5 <= clip.num_frames / clip.fps <= 2.1
    assert gui_recognizer.example_counts()["sit down"] == 1
    assert window.example_list.count() == 1 and "1 example" in _delegate_text(window, "sit down")

    # The ranking moves toward the taught label on the motion it was taught with.
    taught_at = len(seen)
    qtbot.waitUntil(lambda: len(seen) >= taught_at + 12, timeout=60_000)
    after = mean_score(seen[taught_at + 4 :])
    assert after > before + 0.05, (before, after)
    # The timeline under the ranking plots the featured person's recent scores, in seconds.
    history = window.timeline.history
    assert len(history.points) >= 5 and set(history.labels()) <= set(window.labels)
    assert 0 < history.points[-1][0] - history.points[0][0] <= history.seconds

    # Play it back, then restart: the example comes back from the config folder.
    qtbot.mouseClick(window.play_button, Qt.MouseButton.LeftButton)
    assert window.player.playing and window.player.xy is not None
    qtbot.waitUntil(lambda: window.player.frame > 3, timeout=5_000)
    window.close()
    gui_recognizer.clear_examples()
    second = open_window(qtbot, qapp, gui_recognizer, config)
    assert second.examples.count("sit down") == 1
    assert gui_recognizer.example_counts()["sit down"] == 1
    second.label_list.setCurrentItem(second.label_list.findItems("sit down", Qt.MatchFlag.MatchExactly)[0])
    assert second.example_list.count() == 1

    # Remove it: gone from disk, from the list and from the scoring.
    qtbot.mouseClick(second.remove_example_button, Qt.MouseButton.LeftButton)
    assert second.examples.count("sit down") == 0 and not files[0].exists()
    assert gui_recognizer.example_counts()["sit down"] == 0 and second.example_list.count() == 0
    second.close()


def _delegate_text(window, label: str) -> str:
    """What the label list's delegate adds beside ``label`` (its example count)."""
    n = window.label_list.itemDelegate().count(label)
    return f"{n} example{'s' if n > 1 else ''}" if n else ""


def test_record_example_needs_a_label(qtbot, qapp, gui_recognizer, tmp_path, monkeypatch) -> None:
    pytest.importorskip("pytestqt", reason="pytest-qt is not installed")
    from app.config import LiveConfig
    from app.label_store import CONFIG_ENV
    from tests.test_app_gui import open_window

    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "config"))
    window = open_window(qtbot, qapp, gui_recognizer, LiveConfig(demo=True, labels=["wave", "jump"]))
    window.label_list.clearSelection()
    assert not window.record_example() and "select an action" in window.message.text()
    window.entry.setText("my warm-up 3")  # a typed new label is added, selected and recorded
    window.countdown_s = 60.0
    assert window.record_example() and window.recorder.label == "my warm-up 3"
    assert "my warm-up 3" in window.labels and "Get ready" in window.video.countdown
    window.close()


# ---------------------------------------------------------------------------------------------------
# the example store and --examples


def _clip(label: str | None, seed: int = 0):
    from pose.skeleton import Skeleton

    rng = np.random.default_rng(seed)
    joints = (rng.standard_normal((40, 25, 3)) * 0.1 + [0.0, 0.0, 3.0]).astype(np.float32)
    return Skeleton.from_single(joints, 30.0, label=label)


def test_example_store_keeps_user_examples_and_reads_a_folder(tmp_path: Path) -> None:
    from app.label_store import EXAMPLES_DIR, ExampleError, ExampleStore

    store = ExampleStore(tmp_path / "config").load()
    assert store.examples == [] and store.windows("wave", Preprocess(window=32)) is None
    first = store.add(_clip("Wave  hands", 1))
    store.add(_clip("wave hands", 2))
    assert first.path.parent.parent == tmp_path / "config" / EXAMPLES_DIR and first.path.suffix == ".npz"
    (first.path.parent / "broken.npz").write_bytes(b"not a zip")  # skipped with a warning, not fatal

    folder = tmp_path / "given" / "deeper"
    folder.mkdir(parents=True)
    from pose.skeleton import save_npz

    save_npz(_clip("jump"), folder / "j.npz")
    save_npz(_clip(None), folder / "unlabelled.npz")
    again = ExampleStore(tmp_path / "config", tmp_path / "given").load()
    assert again.count("WAVE HANDS") == 2 and again.count("jump") == 1
    assert again.labels(own=True) == ["Wave hands"] and again.labels(own=False) == ["jump"]
    assert again.windows("wave hands", Preprocess(window=32)).shape == (2, 3, 32, 25, 2)
    with pytest.raises(ExampleError, match="left in place"):
        again.remove(again.of("jump")[0])
    again.remove(again.of("wave hands")[0])
    assert again.count("wave hands") == 1 and len(list((tmp_path / "config").rglob("*.npz"))) == 2

    with pytest.raises(ExampleError, match="not found"):
        ExampleStore(tmp_path / "config", tmp_path / "missing").load()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExampleError, match="no labelled"):
        ExampleStore(tmp_path / "config", tmp_path / "empty").load()
    with pytest.raises(ExampleError, match="needs a label"):
        again.add(_clip(None))


def test_headless_with_examples_scores_their_labels(
    random_checkpoint: Path,  # noqa: F811 (the shared fixture imported above)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys,
) -> None:
    from app.cli import main
    from pose.skeleton import save_npz

    monkeypatch.setenv("NEURON_LIVE_CONFIG_DIR", str(tmp_path / "config"))
    replay = shared_path("ntu_skeletons", "S015C003P007R001A023.skeleton")
    (tmp_path / "ex").mkdir()
    save_npz(_clip("my warm-up 3"), tmp_path / "ex" / "a.npz")
    args = ["--headless", "--skeleton-file", str(replay), "--fast", "--labels", "wave,jump",
            "--checkpoint", str(random_checkpoint), "--backend", "torch", "--max-frames", "45"]  # fmt: skip
    assert main([*args, "--examples", str(tmp_path / "ex")]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    shown = [{e["label"] for e in line["top_k"]} for line in lines if line["top_k"]]
    assert shown and all(labels == {"wave", "jump", "my warm-up 3"} for labels in shown)
    assert main([*args, "--examples", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "examples folder not found" in err and len(err.splitlines()) == 1


def test_example_recorder_follows_one_person_and_resamples_to_30_hz(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("PyQt6", reason="PyQt6 is not installed")
    import app.gui as gui
    from app.label_store import ExampleError
    from app.pipeline import View
    from pose.estimator import PersonPose, PoseResult
    from pose.sources import Frame

    clock = [0.0]
    monkeypatch.setattr(gui.time, "monotonic", lambda: clock[0])
    recorder = gui.ExampleRecorder("wave", countdown_s=1.0, seconds=2.0)

    def view(i: int, t: float, tracks: tuple[int, ...]) -> View:
        persons = [PersonPose(k, np.full((25, 3), t + k, np.float32), np.zeros((25, 2), np.float32), 1.0)
                   for k in tracks]  # fmt: skip
        return View(Frame(np.zeros((4, 4, 3), np.uint8), i, t), PoseResult(i, t, persons))

    recorder.feed(view(0, 0.5, (1, 2)), 1)  # still counting down: not kept
    assert recorder.phase()[0] == "countdown" and recorder.times == []
    # 20 Hz frames while recording (and a little after); person 2 featured first, then person 1.
    for i in range(1, 45):
        clock[0] = 1.0 + i * 0.05
        recorder.feed(view(i, clock[0], (1, 2) if i % 7 else (1,)), 2 if i < 5 else 1)
        recorder.feed(view(i, clock[0], (1, 2)), 2)  # the same frame again: not kept twice
    assert recorder.track == 2 and recorder.phase()[0] == "done"
    clip = recorder.skeleton("test")
    assert clip.fps == 30.0 and clip.label == "wave" and clip.meta["track"] == "2"
    times = np.array(recorder.times)
    assert len(times) == len(set(times)) and clip.num_frames == int((times[-1] - times[0]) * 30) + 1
    np.testing.assert_allclose(clip.joints[0, 0] - 2.0, times[0], atol=1e-5)  # person 2's joints = t + 2

    short = gui.ExampleRecorder("wave", countdown_s=0.0, seconds=2.0)
    short.feed(view(1, clock[0], (1,)), 1)
    with pytest.raises(ExampleError, match="stay in view"):
        short.skeleton("test")


def test_few_shot_command_on_a_benchmark_fold(tiny_checkpoint, tmp_path: Path, capsys) -> None:  # noqa: F811
    """``python -m training.few_shot fold``: a fold's saved embeddings in, zero- and k-shot figures out."""
    import shutil

    from training.few_shot import main

    fold = tmp_path / "fold"
    fold.mkdir()
    shutil.copy(tiny_checkpoint, fold / "neuron.pt")
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 6, 384))
    labels = np.repeat(np.arange(3), 8)
    emb = (centres[labels] + 0.5 * rng.standard_normal((24, 6, 384))).astype(np.float16)
    classes = ["bend", "stretch", "twirl"]
    np.savez_compressed(fold / "embeddings.npz", emb=emb, labels=np.array([classes[i] for i in labels]),
                        groups=np.tile(np.array(["s1", "s2", "s3", "s4"]), 6))  # fmt: skip
    (fold / "result.json").write_text(json.dumps({"classes": classes}), encoding="utf-8")
    assert main(["fold", "--fold", str(fold), "--weight", "1.0"]) == 0
    out = json.loads(capsys.readouterr().out)
    taught = out["all_taught"]
    assert taught["queries"] == 24 and taught["groups"] == 4 and taught["weight"] == 1.0
    assert taught["5_shot"]["top1"] == 1.0 > taught["zero_shot"]["top1"]  # clusters this clear: perfect
    assert out["half_taught"]["taught_fraction"] == 0.5
    assert main(["fold", "--fold", str(tmp_path / "nothing")]) == 2
    assert "not a finished benchmark fold" in capsys.readouterr().err
