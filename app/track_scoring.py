"""Per-person scoring: raw window scores in, a steady :class:`Prediction` per person out.

Each window is scored on its own, and neighbouring windows overlap by most of their frames, so raw
scores jitter around a slowly changing truth. An exponential moving average follows the truth;
hysteresis on top of it keeps the current top label until a rival leads it by a clear margin, and a
still person (low window motion, with separate enter and leave thresholds) is reported as "no
action" instead of whatever label the model finds least unlikely for standing, unless labels in use
name a held posture ("standing", "doing yoga poses": :func:`neuron_core.labels.names_posture`): then
the best of those is shown, since holding still is how that posture looks. Nobody in view is
the "absent" state, and the next person starts afresh.

:class:`ScoringSettings` holds the three knobs and their defaults, the one place they are defined
(the command line's defaults are these).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from neuron_core.labels import names_posture

ACTION = "action"
STILL = "still"
ABSENT = "absent"
# Leave the still state only when motion exceeds the threshold by this factor: a person hovering
# around the threshold does not toggle the state on every window.
STILL_LEAVE_FACTOR = 1.5


@dataclass(frozen=True)
class ScoringSettings:
    """How raw scores become what the user sees (``--smoothing``, ``--hysteresis``, ``--still-threshold``).

    ``smoothing`` is the weight of the newest scores (1 = no smoothing); ``hysteresis`` the lead a
    rival needs over the current top label to replace it; ``still_threshold`` the window motion (m/s)
    below which a person counts as still. Measured on real video (docs/VIDEO_BENCHMARK.md): people
    holding still read 0.02-0.07 m/s, people moving 0.15 m/s and more, hence 0.08 (left above 0.12).
    """

    smoothing: float = 0.4
    hysteresis: float = 0.05
    still_threshold: float = 0.08


DEFAULT_SCORING = ScoringSettings()


@dataclass
class Smoothed:
    """One smoothed update: every label's score (best first), the stable top label and the state."""

    scores: list[tuple[str, float]]
    top: str | None
    state: str

    @property
    def no_action(self) -> bool:
        return self.state != ACTION


class ScoreSmoother:
    """EMA of scores per label, hysteresis on the top label, and a still state from window motion.

    Labels are keyed by name, so adding or removing a label keeps the history of the others; a new
    label starts at its first score.
    """

    def __init__(self, settings: ScoringSettings = DEFAULT_SCORING) -> None:
        self.settings = settings
        self._ema: dict[str, float] = {}
        self._top: str | None = None
        self._still = False

    def update(self, scores: dict[str, float], motion: float | None = None) -> Smoothed:
        alpha, margin = self.settings.smoothing, self.settings.hysteresis
        ema = {
            label: (value if label not in self._ema else alpha * value + (1 - alpha) * self._ema[label])
            for label, value in scores.items()
        }
        self._ema = ema
        ranked = sorted(ema.items(), key=lambda kv: kv[1], reverse=True)
        if not ranked:
            self._top = None
        elif self._top not in ema or ranked[0][1] > ema[self._top] + margin:
            self._top = ranked[0][0]
        if motion is not None:
            enter = self.settings.still_threshold
            self._still = motion < enter * STILL_LEAVE_FACTOR if self._still else motion < enter
        if not self._still:
            return Smoothed(ranked, self._top, ACTION)
        postures = [label for label, _ in ranked if names_posture(label)]
        if not postures:
            return Smoothed(ranked, None, STILL)
        if self._top not in postures or ema[postures[0]] > ema[self._top] + margin:
            self._top = postures[0]  # the best posture, with the same hysteresis among postures
        return Smoothed(ranked, self._top, ACTION)

    def reset(self) -> None:
        """Forget the history (the person left; the next one starts afresh)."""
        self._ema.clear()
        self._top = None
        self._still = False


@dataclass(frozen=True)
class FrameInfo:
    """The frame a prediction is about, carried from capture to the prediction: its place in the
    stream, its capture stamp (for end-to-end latency), the time pose took, and the action it is
    known to show (demo, replayed recording), if any."""

    frame_index: int
    frame_time: float
    t_capture: float
    pose_ms: float = 0.0
    reference: str | None = None


@dataclass
class Prediction:
    """One prediction update for one person (or, with ``track_id`` None, "nobody in view").

    ``scores`` are every active label's smoothed score, best first; ``top`` the stable top label
    (None in the no-action states); ``state`` "action", "still" or "absent".
    """

    frame_index: int
    frame_time: float
    t_capture: float
    track_id: int | None
    scores: list[tuple[str, float]]
    top: str | None
    state: str
    motion: float | None
    latency_ms: float
    pose_ms: float
    model_ms: float
    reference: str | None = None

    @property
    def no_action(self) -> bool:
        return self.state != ACTION

    def to_json(self, top_k: int) -> dict[str, Any]:
        """The record of a JSON line: plain types, rounded to what is meaningful."""
        wall = time.time() - (time.monotonic() - self.t_capture)
        return {
            "time": round(wall, 3),
            "frame_time": round(self.frame_time, 3),
            "frame_index": self.frame_index,
            "track_id": self.track_id,
            "state": self.state,
            "no_action": self.no_action,
            "top": self.top,
            "top_k": [{"label": label, "score": round(float(s), 4)} for label, s in self.scores[:top_k]],
            "motion": None if self.motion is None else round(self.motion, 4),
            "latency_ms": round(self.latency_ms, 1),
            "pose_ms": round(self.pose_ms, 1),
            "model_ms": round(self.model_ms, 1),
            "reference": self.reference,
        }


@dataclass
class TrackScorer:
    """One :class:`ScoreSmoother` per tracked person, and the predictions they lead to.

    Latency is measured when the prediction is made: from the frame's capture stamp to now.
    """

    settings: ScoringSettings = field(default_factory=ScoringSettings)
    _smoothers: dict[int, ScoreSmoother] = field(default_factory=dict, init=False, repr=False)

    def reset(self) -> None:
        """Every person starts afresh (a recording restarted, or nobody is in view)."""
        self._smoothers.clear()

    def person(
        self, about: FrameInfo, track_id: int, scores: dict[str, float], motion: float, model_ms: float
    ) -> Prediction:
        """This person's raw scores for a window ending at ``about``, smoothed into a prediction."""
        smoother = self._smoothers.get(track_id)
        if smoother is None:
            smoother = self._smoothers[track_id] = ScoreSmoother(self.settings)
        smoothed = smoother.update(scores, motion)
        return _prediction(about, track_id, smoothed, motion, model_ms)

    def nobody(self, about: FrameInfo, model_ms: float) -> Prediction:
        """Nobody in view at ``about``: the absent state, and whoever comes next starts afresh."""
        self.reset()
        return _prediction(about, None, Smoothed([], None, ABSENT), None, model_ms)


def _prediction(
    about: FrameInfo, track_id: int | None, smoothed: Smoothed, motion: float | None, model_ms: float
) -> Prediction:
    latency = (time.monotonic() - about.t_capture) * 1000.0
    return Prediction(
        about.frame_index,
        about.frame_time,
        about.t_capture,
        track_id,
        smoothed.scores,
        smoothed.top,
        smoothed.state,
        motion,
        latency,
        about.pose_ms,
        model_ms,
        about.reference,
    )
