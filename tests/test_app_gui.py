"""The Qt window, offscreen (pytest-qt): video and predictions, label editing while running, the saved
label list, on-screen messages, and a screenshot for people to look at."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt", reason="pytest-qt is not installed")

from PyQt6.QtCore import Qt  # noqa: E402

from app.config import LiveConfig  # noqa: E402
from app.gui import ENDED, NO_PERSON, MainWindow, apply_dark_theme, create_window  # noqa: E402
from app.label_store import CONFIG_ENV, LABELS_FILE  # noqa: E402
from app.pipeline import View  # noqa: E402
from app.records import JsonLinesSink  # noqa: E402
from app.session import initial_labels, load_recognizer, open_input  # noqa: E402
from pose.estimator import PoseResult  # noqa: E402
from tests.conftest import shared_path  # noqa: E402
from tests.test_app_cli import SAMPLE_VIDEO, random_checkpoint  # noqa: E402, F401 (a shared fixture)

START_LABELS = ["wave", "hug", "jump", "sit down"]


@pytest.fixture(scope="module")
def recognizer(random_checkpoint: Path):  # noqa: F811 (the fixture imported above)
    return load_recognizer(LiveConfig(checkpoint=random_checkpoint), START_LABELS)


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "config"))
    return tmp_path / "config"


def open_window(
    qtbot, qapp, recognizer, config: LiveConfig, record: JsonLinesSink | None = None
) -> MainWindow:
    """What run_gui does, minus the event loop (pytest-qt drives it)."""
    apply_dark_theme(qapp)
    recognizer.set_labels(initial_labels(config))
    window = create_window(config, open_input(config), recognizer, record)
    qtbot.addWidget(window)
    window.show()
    return window


def saved_labels(config_dir: Path) -> list[str]:
    return json.loads((config_dir / LABELS_FILE).read_text(encoding="utf-8"))["labels"]


@pytest.mark.slow
def test_window_on_a_video_shows_frames_and_predictions_and_edits_labels(
    qtbot, qapp, recognizer, config_dir: Path, test_output: Path
) -> None:
    video = shared_path(*SAMPLE_VIDEO)
    window = open_window(qtbot, qapp, recognizer, LiveConfig(video=video, loop=True, labels=START_LABELS))
    window.start()
    qtbot.waitUntil(lambda: window.pipeline.view() is not None and window.inbox.received >= 2, timeout=90_000)
    qtbot.waitUntil(lambda: window.video.person_count >= 1, timeout=30_000)
    assert {label for label, _ in window.bars.scores} == set(START_LABELS)
    assert window.top_label.text() != "..." and window.pipeline.stats().fps > 0

    # Type a new action while the video runs: it joins the predictions within a few updates.
    qtbot.keyClicks(window.entry, "drink water")
    qtbot.keyClick(window.entry, Qt.Key.Key_Return)
    assert window.labels == [*START_LABELS, "drink water"] and window.entry.text() == ""
    assert saved_labels(config_dir) == window.labels
    asked = window.inbox.received
    qtbot.waitUntil(lambda: "drink water" in dict(window.bars.scores), timeout=60_000)
    assert window.inbox.received - asked <= 4

    test_output.mkdir(exist_ok=True)
    shot = test_output / "screenshot.png"
    image = window.grab()
    assert image.save(str(shot)) and shot.stat().st_size > 10_000
    assert image.width() >= 900 and image.height() >= 600

    # Remove it again with the Delete key on the selected row.
    window.label_list.setCurrentItem(window.label_list.findItems("drink water", Qt.MatchFlag.MatchExactly)[0])
    qtbot.keyClick(window.label_list, Qt.Key.Key_Delete)
    assert window.labels == START_LABELS and saved_labels(config_dir) == START_LABELS
    qtbot.waitUntil(lambda: set(dict(window.bars.scores)) == set(START_LABELS), timeout=60_000)

    window.close()
    assert not window.pipeline.running


def test_bad_labels_are_refused_with_the_reason(qtbot, qapp, recognizer, config_dir: Path) -> None:
    window = open_window(qtbot, qapp, recognizer, LiveConfig(demo=True, labels=START_LABELS))
    for text, reason in (("   ", "empty"), ("WAVE", "already"), ("x" * 101, "101")):
        window.entry.setText(text)
        qtbot.mouseClick(window.add_button, Qt.MouseButton.LeftButton)
        assert reason in window.message.text()
        assert window.labels == START_LABELS and window.entry.text() == text
    assert not (config_dir / LABELS_FILE).exists()  # nothing changed, nothing written
    window.close()


def test_a_label_the_encoder_cannot_read_is_added_with_a_warning(
    qtbot, qapp, recognizer, config_dir: Path
) -> None:
    window = open_window(qtbot, qapp, recognizer, LiveConfig(demo=True, labels=START_LABELS))
    window.entry.setText("прыжок")
    qtbot.mouseClick(window.add_button, Qt.MouseButton.LeftButton)
    assert window.labels == [*START_LABELS, "прыжок"]  # added: the user may know better
    assert "Cyrillic" in window.message.text() and "English" in window.message.text()
    window.entry.setText("jump up")
    qtbot.mouseClick(window.add_button, Qt.MouseButton.LeftButton)
    assert window.message.text() == ""  # an English label clears the warning
    window.close()


def test_the_label_list_survives_a_restart(qtbot, qapp, recognizer, config_dir: Path) -> None:
    first = open_window(qtbot, qapp, recognizer, LiveConfig(demo=True))
    assert first.labels[:2] == ["wave", "clap hands"]  # the defaults on a first start
    first.entry.setText("juggle balls")
    assert first.add_from_entry()
    first.label_list.setCurrentItem(first.label_list.findItems("kick", Qt.MatchFlag.MatchExactly)[0])
    first.remove_selected()
    expected = first.labels
    first.close()

    second = open_window(qtbot, qapp, recognizer, LiveConfig(demo=True))
    assert second.labels == expected and "juggle balls" in expected and "kick" not in expected
    assert [second.label_list.item(i).text() for i in range(second.label_list.count())] == expected
    second.close()


def test_demo_banner_messages_and_pause(qtbot, qapp, recognizer, config_dir: Path) -> None:
    window = open_window(qtbot, qapp, recognizer, LiveConfig(demo=True, labels=START_LABELS))
    assert window.banner.isVisible() and "DEMO" in window.banner.text()
    assert window.video.overlay_text() == "Waiting for the first frame..."
    frame = open_input(LiveConfig(demo=True)).source.read()
    window.video.set_view(View(frame, PoseResult(0, 0.0, persons=[])))
    assert window.video.overlay_text() == NO_PERSON
    window.video.set_view(View(frame, frame.pose))
    assert window.video.overlay_text() is None and window.video.person_count == 1
    # A person not seen in this frame but held by the pose stage (pose.estimator.HOLD_S) is still
    # drawn and counted: no "no person" message, no blinking skeleton.
    window.video.set_view(View(frame, PoseResult(1, 0.0, persons=[], held=list(frame.pose.persons))))
    assert window.video.overlay_text() is None and window.video.person_count == 1
    window._on_status("camera_lost", "camera 0: stopped delivering frames; retrying every 1 s")
    assert window.video.overlay_text().startswith("Camera lost")
    window._on_status("camera_back", "camera 0: frames again")
    assert window.video.overlay_text() is None
    window._on_status("ended", "built-in demo: ended")
    assert window.video.overlay_text() == ENDED["demo"]
    qtbot.mouseClick(window.pause_button, Qt.MouseButton.LeftButton)
    assert window.pipeline.paused and window.pause_button.text() == "Resume"
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not window.pipeline.paused and window.pause_button.text() == "Pause"
    window.close()


def test_closing_the_window_stops_every_thread_and_keeps_every_record(
    qtbot, qapp, recognizer, config_dir: Path, tmp_path: Path
) -> None:
    record = JsonLinesSink.append_to(tmp_path / "gui.jsonl", top_k=3)
    window = open_window(qtbot, qapp, recognizer, LiveConfig(demo=True, labels=START_LABELS), record)
    window.start()
    qtbot.waitUntil(lambda: window.inbox.received >= 4, timeout=60_000)
    window.close()
    assert not window.pipeline.running
    record.close()
    lines = (tmp_path / "gui.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == window.inbox.received
    first = json.loads(lines[0])
    assert first["reference"] is None and first["state"] == "still"  # the demo opens standing still
    assert np.isfinite([json.loads(line)["latency_ms"] for line in lines]).all()
