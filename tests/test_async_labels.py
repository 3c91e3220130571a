"""Adding a label never pauses predictions: the real recogniser with a slow stand-in text encoder,
driven by the pipeline while the built-in demo plays at its own rate."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence

import numpy as np
import torch

from app.pipeline import Pipeline, Prediction
from app.synthetic import DemoSource
from neuron_core.recognizer import ZeroShotRecognizer
from neuron_core.text_encoders import HashingEncoder
from pose.normalize import Preprocess
from tests.doubles import DIM, make_meta, tiny_model
from tests.doubles import TINY_CONFIG as CONFIG

WINDOW = CONFIG["window"]
SLOW_S = 1.5


class SlowEncoder(HashingEncoder):
    """Takes ``SLOW_S`` seconds for any batch that mentions ``slow_word``, like a cold text encoder."""

    def __init__(self, slow_word: str) -> None:
        super().__init__(DIM)
        self.slow_word = slow_word
        self.started = threading.Event()
        self.finished = threading.Event()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if any(self.slow_word in text for text in texts):
            self.started.set()
            time.sleep(SLOW_S)
            out = super().encode(texts)
            self.finished.set()
            return out
        return super().encode(texts)


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def make_recognizer(encoder: HashingEncoder) -> ZeroShotRecognizer:
    torch.manual_seed(0)
    recognizer = ZeroShotRecognizer(tiny_model(), make_meta(WINDOW), encoder, k=2)
    recognizer.set_labels(["wave", "jump"])
    return recognizer


def test_predictions_keep_arriving_while_a_new_label_encodes() -> None:
    encoder = SlowEncoder("juggle")
    preds: list[Prediction] = []
    pipeline = Pipeline(
        DemoSource(seed=0),
        make_recognizer(encoder),
        preprocess=Preprocess(window=WINDOW),
        sinks=[preds.append],
    )
    pipeline.start()
    try:
        wait_for(lambda: len(preds) >= 3)
        pipeline.set_labels(["wave", "jump", "juggle balls"])  # returns at once
        assert pipeline.labels == ["wave", "jump", "juggle balls"]
        assert encoder.started.wait(5)
        first = len(preds)
        assert pipeline.labels_pending
        assert encoder.finished.wait(10)
        # The swap may land (and a 3-label prediction arrive) between ``finished`` and this line:
        # count the old-label predictions up to the first new one, and none old after it.
        since = preds[first:]
        during = list(itertools.takewhile(lambda p: "juggle balls" not in dict(p.scores), since))
        # 30 fps, one prediction every 4 frames: about 11 in 1.5 s; a paused recogniser makes none.
        assert len(during) >= 5, f"only {len(during)} predictions during {SLOW_S} s of encoding"
        assert all({label for label, _ in p.scores} == {"wave", "jump"} for p in during)
        assert all(len(p.scores) == 3 for p in since[len(during) :])
        wait_for(lambda: any("juggle balls" in dict(p.scores) for p in preds))
        wait_for(lambda: not pipeline.labels_pending)
        done = len(preds)
        wait_for(lambda: len(preds) >= done + 2)
        assert all(len(p.scores) == 3 for p in preds[done:])
    finally:
        assert pipeline.stop()
    assert pipeline.error is None


def test_a_refused_label_set_keeps_the_old_one_and_says_why() -> None:
    preds: list[Prediction] = []
    pipeline = Pipeline(
        DemoSource(seed=0),
        make_recognizer(HashingEncoder(DIM)),
        preprocess=Preprocess(window=WINDOW),
        sinks=[preds.append],
    )
    pipeline.start()
    try:
        wait_for(lambda: len(preds) >= 2)
        pipeline.set_labels(["wave", "Wave"])  # a duplicate: the recogniser refuses it
        wait_for(lambda: pipeline.labels == ["wave", "jump"])
        status = pipeline.poll_status()
        assert any(s.kind == "warning" and "labels not changed" in s.message for s in status), status
        seen = len(preds)
        wait_for(lambda: len(preds) >= seen + 2)
        assert {label for label, _ in preds[-1].scores} == {"wave", "jump"}
    finally:
        assert pipeline.stop()


def test_new_labels_are_scored_at_once_on_each_persons_last_window() -> None:
    """With windows only every 2 s (rate 60 at 30 fps), the first prediction with a new label is the
    last window re-scored (same frame), not the next window: no waiting up to ``rate`` frames."""
    preds: list[Prediction] = []
    pipeline = Pipeline(
        DemoSource(seed=0), make_recognizer(HashingEncoder(DIM)), preprocess=Preprocess(window=WINDOW),
        rate=60, sinks=[preds.append],
    )  # fmt: skip
    pipeline.start()
    try:
        wait_for(lambda: any(p.track_id is not None for p in preds))
        before = {p.frame_index for p in preds if p.track_id is not None}
        pipeline.set_labels(["wave", "jump", "juggle balls"])
        wait_for(lambda: any("juggle balls" in dict(p.scores) for p in preds))
        first_new = next(p for p in preds if "juggle balls" in dict(p.scores))
        assert first_new.track_id is not None and first_new.frame_index in before
    finally:
        assert pipeline.stop()
    assert pipeline.error is None
