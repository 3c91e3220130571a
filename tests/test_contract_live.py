"""The live path makes windows as the checkpoint's contract says (window length, crop, frame rate)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from app.config import LiveConfig
from app.label_store import model_preprocess
from app.session import build_pipeline, open_input
from pose.normalize import PREPROCESS, Preprocess
from tests.doubles import FakeRecognizer


class ContractRecognizer(FakeRecognizer):
    """A stand-in that carries checkpoint metadata and remembers the windows it was given."""

    def __init__(self, preprocess: Preprocess) -> None:
        super().__init__(["wave", "jump"])
        self.meta = SimpleNamespace(preprocess=preprocess)
        self.shapes: set[tuple[int, ...]] = set()

    def scores(self, windows: np.ndarray) -> np.ndarray:
        self.shapes.add(tuple(np.asarray(windows).shape[1:]))
        return super().scores(windows)


def test_live_windows_follow_the_checkpoint_contract() -> None:
    contract = Preprocess(window=16, test_crop=0.8, frame_rate=15.0)
    recognizer = ContractRecognizer(contract)
    assert model_preprocess(recognizer) == contract
    assert model_preprocess(FakeRecognizer(["wave"])) == PREPROCESS  # a stand-in without metadata
    config = LiveConfig(demo=True, headless=True, fast=True, max_frames=90, device="cpu")
    pipeline = build_pipeline(config, open_input(config), recognizer)
    pipeline.start()
    try:
        assert pipeline.wait(60), "the demo did not end"
    finally:
        pipeline.stop()
    assert pipeline.error is None and recognizer.scored > 0
    assert recognizer.shapes == {(3, 16, 25, 2)}
