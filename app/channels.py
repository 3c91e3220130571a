"""Bounded hand-overs between the pipeline's threads, and the one loop every stage runs over them.

Live, a channel keeps only the newest items (``latest wins``): a slow consumer lowers the rate it
sees and never delays the producer or lets memory grow. A slot of one is the latest-frame
mechanism of the whole app. Lossless (``--fast`` on a recording), a channel blocks the producer
instead, so every item is processed and the output does not depend on timing.

Markers (END, RESET) travel in band and are never dropped to make room, so a consumer always
learns that the stream ended or a recording restarted.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

# How long a waiting stage sleeps before it looks at the stop flag again: the bound on how late a
# stage notices ``stop``.
POLL_S = 0.05


class Marker:
    """An in-band signal in a hand-over; never dropped to make room."""


class _End(Marker):
    """The stream has ended."""


class _Reset(Marker):
    """A recording restarted (loop): windows and smoothing start afresh."""


END = _End()
RESET = _Reset()


class Channel:
    """A bounded hand-over between two threads.

    When full, ``put`` either drops the oldest item (``drop_oldest``: live, latest wins; drops are
    counted) or waits for room (lossless back-pressure). ``close`` lets the consumer drain what is
    left and then read END.
    """

    def __init__(self, maxsize: int, drop_oldest: bool, stop: threading.Event) -> None:
        self.maxsize = maxsize
        self.drop_oldest = drop_oldest
        self.dropped = 0
        self._stop = stop
        self._items: deque[Any] = deque()
        self._closed = False
        self._cond = threading.Condition()

    def put(self, item: Any) -> bool:
        """Hand over ``item``; False when the pipeline is stopping and it was not taken."""
        with self._cond:
            if self.drop_oldest:
                while len(self._items) >= self.maxsize:
                    victim = next((x for x in self._items if not isinstance(x, Marker)), None)
                    if victim is None:
                        break
                    self._items.remove(victim)
                    self.dropped += 1
            else:
                while len(self._items) >= self.maxsize:
                    if self._stop.is_set():
                        return False
                    self._cond.wait(POLL_S)
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get(self, timeout: float = POLL_S) -> Any:
        """The oldest item, END once closed and empty, or None after ``timeout`` with nothing."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if self._items:
                item = self._items.popleft()
                self._cond.notify_all()
                return item
            return END if self._closed else None

    def drain(self, limit: int) -> list[Any]:
        """Up to ``limit`` items that are waiting now (never END, never waits)."""
        with self._cond:
            out = [self._items.popleft() for _ in range(min(limit, len(self._items)))]
            self._cond.notify_all()
            return out

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def stage_loop(
    inbox: Channel,
    stop: threading.Event,
    handle: Callable[[Any], bool],
    *,
    outbox: Channel | None = None,
    idle: Callable[[], None] | None = None,
) -> None:
    """Hand each item of ``inbox`` (RESET included) to ``handle`` until the stream ends, the pipeline
    stops, or ``handle`` returns False (the next stage is gone); then close ``outbox``.

    ``idle`` is called each time ``POLL_S`` passes with nothing to read: a stage that watches its
    source for silence. Closing ``outbox`` however the loop ends is what lets every later stage
    drain and end in turn, so a failure upstream never leaves a thread waiting.
    """
    try:
        while True:
            item = inbox.get()
            if item is None:
                if stop.is_set():
                    return
                if idle is not None:
                    idle()
                continue
            if item is END or stop.is_set():
                return
            if not handle(item):
                return
    finally:
        if outbox is not None:
            outbox.close()
