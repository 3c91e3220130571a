"""What the pipeline tells the user: status messages, and faults counted but reported sparingly.

Every stage may say something (a camera lost, a label set refused, a frame dropped); the GUI polls
the messages and the command line logs them. A fault that repeats on every frame would drown the
log and the status bar, so each stage's faults are always counted but reported at most once every
FAULT_REPORT_S.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

log = logging.getLogger(__name__)

# A frame or window lost to a fault is always counted, but reported at most this often per stage.
FAULT_REPORT_S = 5.0
# Messages nobody polled are forgotten beyond this many: a headless run never polls.
MAX_MESSAGES = 100


@dataclass
class Status:
    """Something the user should know: ``kind`` is warning, error, camera_lost, camera_back or ended."""

    kind: str
    message: str


class StatusBoard:
    """The messages since the last poll, and the faults counted per stage; safe from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: deque[Status] = deque(maxlen=MAX_MESSAGES)
        self._faults: dict[str, int] = {}
        self._fault_reported: dict[str, float] = {}

    def say(self, kind: str, message: str) -> None:
        # Errors reach the user through the edge (the window, or the command line's one line).
        log.log(logging.WARNING if kind in ("warning", "camera_lost") else logging.INFO, "%s", message)
        with self._lock:
            self._messages.append(Status(kind, message))

    def fault(self, stage: str, message: str) -> None:
        """A frame or window lost to a fault: always counted, reported at most every FAULT_REPORT_S."""
        now = time.monotonic()
        with self._lock:
            count = self._faults[stage] = self._faults.get(stage, 0) + 1
            last = self._fault_reported.get(stage)
            if last is not None and now - last < FAULT_REPORT_S:
                return
            self._fault_reported[stage] = now
        self.say("warning", f"{stage}: {message}; {count} so far, still running")

    def poll(self) -> list[Status]:
        """Messages since the last call, oldest first."""
        with self._lock:
            out = list(self._messages)
            self._messages.clear()
        return out

    def faults(self) -> dict[str, int]:
        """Frames or windows lost so far, per stage (capture, pose, model)."""
        with self._lock:
            return dict(self._faults)
