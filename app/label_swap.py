"""Label changes handed to a running recogniser without pausing predictions.

A text encoder takes tenths of a second per label set. Live, the label thread encodes the newest
requested set beside the scoring (``prepare_labels``) and only the swap itself holds the model lock,
so adding a label never pauses predictions. Lossless, the scoring stage applies the request itself
before its next batch, so the output does not depend on timing. A request overtaken by a newer one
is never encoded; a set the recogniser refuses leaves the working one in place, with a warning.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from app.channels import POLL_S
from neuron_core.errors import NeuronCoreError


class LabelledRecognizer(Protocol):
    @property
    def labels(self) -> list[str]: ...

    def set_labels(self, labels: list[str]) -> None: ...


class LabelSwap:
    """Requested labels, the one being encoded, and the lock under which labels and scores agree."""

    def __init__(self, recognizer: LabelledRecognizer, say: Callable[[str, str], None]) -> None:
        self._recognizer = recognizer
        self._say = say
        self._lock = threading.Lock()
        # Held while the recogniser scores, and while a prepared label set is swapped in: labels and
        # scores then always belong together.
        self.model_lock = threading.Lock()
        self._wanted = threading.Event()
        self._pending: list[str] | None = None
        self._encoding = False
        self._requested = list(recognizer.labels)
        # Called (on the label thread, outside every lock) after new labels are swapped in: live, the
        # pipeline queues each person's last window again so the new labels are scored at once.
        self.after_swap: Callable[[], object] | None = None

    def request(self, labels: Sequence[str]) -> None:
        """Ask for ``labels`` (validated by the caller); returns at once."""
        with self._lock:
            self._pending = list(labels)
            self._requested = list(labels)
        self._wanted.set()

    @property
    def requested(self) -> list[str]:
        """The labels last asked for: what the user sees, even while they are being encoded."""
        with self._lock:
            return list(self._requested)

    @property
    def pending(self) -> bool:
        """Whether a requested set is not yet scored (waiting, or being encoded)."""
        with self._lock:
            return self._pending is not None or self._encoding

    def wake(self) -> None:
        """Let a waiting ``run`` look at its stop conditions now."""
        self._wanted.set()

    def run(self, stop: threading.Event, scoring_ended: threading.Event) -> None:
        """Live: encode each requested set beside the scoring until stopped or nobody is left to serve."""
        while not (stop.is_set() or scoring_ended.is_set()):
            if self._wanted.wait(POLL_S) and not (stop.is_set() or scoring_ended.is_set()):
                self.apply()

    def apply(self) -> None:
        """Encode the newest requested labels (outside the model lock where the recogniser can prepare
        them) and make them the active set; older requests that were overtaken are skipped."""
        with self._lock:
            labels, self._pending = self._pending, None
            self._wanted.clear()
            self._encoding = labels is not None
        if labels is None:
            return
        try:
            prepare = getattr(self._recognizer, "prepare_labels", None)
            if prepare is not None:
                prepare(labels)  # slow: predictions go on with the current labels meanwhile
            with self.model_lock:
                self._recognizer.set_labels(labels)
        except NeuronCoreError as exc:  # keep recognising with the labels that worked
            self._say("warning", f"labels not changed: {exc}")
            with self._lock:
                if self._pending is None:
                    self._requested = list(self._recognizer.labels)
        else:
            if self.after_swap is not None:
                self.after_swap()
        finally:
            with self._lock:
                self._encoding = False
