"""Temporal smoothing of per-window scores, so the shown top label does not flicker.

Each window is scored on its own, and neighbouring windows overlap by most of their frames, so raw
scores jitter around a slowly changing truth. An exponential moving average follows the truth;
hysteresis on top of it keeps the current top label until a rival leads it by a clear margin, and a
still person (low window motion, with separate enter and leave thresholds) is reported as "no
action" instead of whatever label the model finds least unlikely for standing.
"""

from __future__ import annotations

from dataclasses import dataclass

ACTION = "action"
STILL = "still"
ABSENT = "absent"
# Leave the still state only when motion exceeds the threshold by this factor: a person hovering
# around the threshold does not toggle the state on every window.
STILL_LEAVE_FACTOR = 1.5


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

    ``alpha`` is the weight of the newest scores (1 = no smoothing). Labels are keyed by name, so
    adding or removing a label keeps the history of the others; a new label starts at its first
    score.
    """

    def __init__(self, alpha: float = 0.4, margin: float = 0.05, still_threshold: float = 0.02) -> None:
        self.alpha = alpha
        self.margin = margin
        self.still_threshold = still_threshold
        self._ema: dict[str, float] = {}
        self._top: str | None = None
        self._still = False

    def update(self, scores: dict[str, float], motion: float | None = None) -> Smoothed:
        ema = {
            label: (
                value if label not in self._ema else self.alpha * value + (1 - self.alpha) * self._ema[label]
            )
            for label, value in scores.items()
        }
        self._ema = ema
        ranked = sorted(ema.items(), key=lambda kv: kv[1], reverse=True)
        if not ranked:
            self._top = None
        elif self._top not in ema or ranked[0][1] > ema[self._top] + self.margin:
            self._top = ranked[0][0]
        if motion is not None:
            leave = self.still_threshold * STILL_LEAVE_FACTOR
            self._still = motion < leave if self._still else motion < self.still_threshold
        state = STILL if self._still else ACTION
        return Smoothed(ranked, None if state == STILL else self._top, state)

    def reset(self) -> None:
        """Forget the history (the person left; the next one starts afresh)."""
        self._ema.clear()
        self._top = None
        self._still = False
