"""Unit tests of the app's pieces that need neither Qt nor a model: settings, smoothing, the label
store, the hand-over channel and the scripted demo motions."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from app.channels import END, RESET, Channel
from app.cli import build_parser, parse_config
from app.config import ConfigError, LiveConfig, read_labels_file, split_labels
from app.demo_motion import DEMO_SCRIPT, LEFT, SCRIPT_SECONDS, DemoMotion
from app.label_store import CONFIG_ENV, DEFAULT_LABELS, config_dir, load_labels, save_labels
from app.synthetic import DemoSource, project
from app.track_scoring import ACTION, STILL, ScoreSmoother, ScoringSettings
from pose.layouts import NTU25_BONES, J

# -- settings ---------------------------------------------------------------------------------------


def test_every_flag_is_one_config_field() -> None:
    dests = {a.dest for a in build_parser()._actions if a.dest not in ("help", "config")}
    assert dests == set(LiveConfig.field_names())


def test_flags_parse_into_typed_fields() -> None:
    config = parse_config(
        ["--video", "clip.mp4", "--fast", "--labels", " wave, jump up ,,", "--top-k", "3", "--rate", "2"]
    )
    assert config.video == Path("clip.mp4")
    assert config.fast and config.labels == ["wave", "jump up"]
    assert (config.top_k, config.rate, config.device, config.camera) == (3, 2, "auto", None)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--video", "a.mp4", "--demo"], "choose one source"),
        (["--top-k", "0"], "--top-k"),
        (["--rate", "0"], "--rate"),
        (["--smoothing", "1.5"], "--smoothing"),
        (["--labels", ","], "no label"),
        (["--camera", "-1"], "--camera"),
    ],
)
def test_bad_settings_are_refused_naming_the_flag(argv: list[str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_config(argv)


def test_yaml_settings_with_flags_on_top(tmp_path: Path) -> None:
    settings = tmp_path / "live.yaml"
    settings.write_text("top_k: 2\nrate: 8\nlabels: wave, clap hands\n", encoding="utf-8")
    config = parse_config(["--config", str(settings), "--rate", "3"])
    assert (config.top_k, config.rate, config.labels) == (2, 3, ["wave", "clap hands"])
    settings.write_text("top_kk: 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown setting"):
        parse_config(["--config", str(settings)])


def test_help_is_grouped_with_examples() -> None:
    text = build_parser().format_help()
    for part in ("source (choose one", "actions to recognise", "model", "output", "examples:", "--headless"):
        assert part in text


def test_labels_file(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_text("# mine\nwave\n\n drink water \n", encoding="utf-8")
    assert read_labels_file(path) == ["wave", "drink water"]
    path.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no label"):
        read_labels_file(path)
    assert split_labels("a,,b ,") == ["a", "b"]


# -- smoothing --------------------------------------------------------------------------------------


def test_hysteresis_keeps_the_top_label_through_jitter() -> None:
    smoother = ScoreSmoother(ScoringSettings(smoothing=0.5, hysteresis=0.05, still_threshold=0.0))
    tops = []
    for i in range(20):  # two labels within a few points of each other, alternating lead
        a = 0.52 if i % 2 else 0.48
        tops.append(smoother.update({"wave": a, "clap": 1 - a}, motion=1.0).top)
    assert len(set(tops)) == 1
    for _ in range(10):  # a clear change wins within a few updates
        top = smoother.update({"wave": 0.1, "clap": 0.9}, motion=1.0).top
    assert top == "clap"


def test_ema_follows_scores_and_new_labels_start_at_their_score() -> None:
    smoother = ScoreSmoother(ScoringSettings(smoothing=0.5, still_threshold=0.0))
    smoother.update({"a": 1.0, "b": 0.0})
    out = dict(smoother.update({"a": 0.0, "b": 1.0, "c": 0.3}).scores)
    assert out == pytest.approx({"a": 0.5, "b": 0.5, "c": 0.3})


def test_still_state_enters_and_leaves_with_hysteresis() -> None:
    smoother = ScoreSmoother(ScoringSettings(still_threshold=0.05))
    states = [smoother.update({"a": 1.0}, motion=m).state for m in (0.2, 0.04, 0.06, 0.07, 0.08, 0.03)]
    # 0.06 and 0.07 sit between the enter (0.05) and leave (0.075) thresholds: still stays.
    assert states == [ACTION, STILL, STILL, STILL, ACTION, STILL]
    assert smoother.update({"a": 1.0}, motion=0.01).top is None


# -- label store ------------------------------------------------------------------------------------


def test_label_store_round_trip_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "cfg"))
    assert config_dir() == tmp_path / "cfg"
    assert load_labels() is None
    path = save_labels(["wave", "drink water"])
    assert json.loads(path.read_text(encoding="utf-8"))["labels"] == ["wave", "drink water"]
    assert load_labels() == ["wave", "drink water"]
    assert [p.name for p in path.parent.iterdir()] == ["labels.json"]  # no temporary left behind
    path.write_text("{not json", encoding="utf-8")
    assert load_labels() is None  # a damaged file falls back to the defaults, with a warning
    assert 8 <= len(DEFAULT_LABELS) <= 12 and "wave" in DEFAULT_LABELS


# -- hand-over channel ------------------------------------------------------------------------------


def test_live_channel_keeps_the_newest_and_never_drops_markers() -> None:
    channel = Channel(2, drop_oldest=True, stop=threading.Event())
    for item in (1, RESET, 2, 3, 4):
        assert channel.put(item)
    assert channel.dropped == 3  # 1, 2 and 3 made room; the marker kept its place
    channel.close()
    assert [channel.get(0.01) for _ in range(3)] == [RESET, 4, END]


def test_lossless_channel_blocks_and_gives_up_on_stop() -> None:
    stop = threading.Event()
    channel = Channel(1, drop_oldest=False, stop=stop)
    assert channel.put("a")
    threading.Timer(0.2, stop.set).start()
    start = time.monotonic()
    assert channel.put("b") is False  # full: waited, then the pipeline stopped
    assert 0.15 < time.monotonic() - start < 1.0
    assert channel.get(0.01) == "a" and channel.dropped == 0


# -- demo motions -----------------------------------------------------------------------------------


def _bone_lengths(joints: np.ndarray) -> np.ndarray:
    return np.array([np.linalg.norm(joints[c] - joints[p]) for c, p in NTU25_BONES])


def test_demo_body_is_rigid_and_faces_the_sensor() -> None:
    motion = DemoMotion(seed=1)
    frames = [motion.frame(i)[0] for i in range(0, motion.frames_per_loop, 7)]
    lengths = np.stack([_bone_lengths(f) for f in frames])
    assert np.all(np.isfinite(lengths))
    # Bones keep their length through every motion (noise of a few millimetres aside).
    assert np.max(lengths.max(0) - lengths.min(0)) < 0.03
    first = frames[0]
    # Kinect axes: a person facing the sensor has the left shoulder at the smaller x, head up.
    assert first[J["left_shoulder"], 0] < first[J["right_shoulder"], 0]
    assert np.sign(LEFT[0]) == -1
    assert first[J["head"], 1] > first[J["spine_base"], 1] > first[J["left_foot"], 1]
    # Unmirrored image: the person's left shoulder is on the image's right.
    xy = project(first)
    assert xy[J["left_shoulder"], 0] > xy[J["right_shoulder"], 0]
    assert np.all((xy > 0) & (xy < 1))


def _segment(label: str, fps: float = 30.0) -> range:
    start = 0.0
    for name, seconds, _ in DEMO_SCRIPT:
        if name == label:
            return range(int((start + 1) * fps), int((start + seconds - 1) * fps))
        start += seconds
    raise KeyError(label)


def test_demo_script_moves_the_right_body_parts() -> None:
    motion = DemoMotion(seed=0)
    joints = np.stack([motion.frame(i)[0] for i in range(motion.frames_per_loop)])
    labels = [motion_label for motion_label, _, _ in DEMO_SCRIPT]

    def travel(label: str, joint: str) -> float:
        seg = joints[list(_segment(label)), J[joint]]
        return float(np.linalg.norm(np.diff(seg, axis=0), axis=-1).sum())

    assert travel("wave", "right_hand") > 4 * travel("wave", "left_hand")
    assert travel("kick", "right_foot") > 4 * travel("kick", "left_foot")
    assert travel("squat", "spine_base") > 4 * travel("wave", "spine_base")
    assert travel("clap hands", "left_hand") > 4 * travel("wave", "left_hand")
    assert None in labels and "wave" in labels and SCRIPT_SECONDS > 40


def test_demo_source_says_which_motion_each_frame_shows() -> None:
    source = DemoSource(fps=30.0, seed=0)
    frames = list(source)
    assert len(frames) == source.frame_count == round(SCRIPT_SECONDS * 30)
    assert frames[0].reference is None and frames[0].pose.persons[0].joints.shape == (25, 3)
    assert frames[_segment("wave")[0]].reference == "wave"
    assert [f.index for f in frames[:3]] == [0, 1, 2] and frames[-1].t_media == pytest.approx(
        (len(frames) - 1) / 30
    )


def test_a_still_person_shows_the_best_posture_label_in_use_and_still_otherwise() -> None:
    smoother = ScoreSmoother(ScoringSettings(smoothing=1.0, still_threshold=0.05))
    scores = {"waving": 0.6, "doing yoga poses": 0.1, "standing": 0.3}
    moving = smoother.update(scores, motion=0.5)
    assert (moving.state, moving.top) == (ACTION, "waving")
    held = smoother.update(scores, motion=0.01)  # still: the movement label cannot be what they do
    assert (held.state, held.top) == (ACTION, "standing")
    plain = ScoreSmoother(ScoringSettings(still_threshold=0.05))
    out = plain.update({"waving": 0.6, "sit down": 0.4}, motion=0.01)  # "sit down" is a movement
    assert (out.state, out.top) == (STILL, None)


def test_posture_labels_are_held_postures_not_the_movements_into_them() -> None:
    from neuron_core.labels import names_posture

    postures = ["standing", "sitting on a chair", "doing yoga poses", "kneeling", "Lying on the floor"]
    movements = ["sit down", "stand up", "sitting down", "lying down", "walking", "doing squats", "falling"]
    assert all(names_posture(p) for p in postures)
    assert not any(names_posture(m) for m in movements)
