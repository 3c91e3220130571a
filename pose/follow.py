"""Look for everyone now and then; in between, follow the chosen people on crops around them.

MediaPipe's landmarker asked for N persons runs its person detector on every frame on which it
tracks fewer than N, which with one person in front of a webcam, or in a crowd, is nearly every
frame: on this project's 2-core CPU the detector is about 11 of the 29-30 ms a 1080p frame costs
with one person in view (docs/BENCHMARKS.md). Asked for one person, a landmarker follows that
person from frame to frame with its landmark model alone.

So :class:`FollowingDetector` searches the whole frame for candidates (the estimator's N) every
``search_every_s`` seconds. The estimator chooses whom to report among them (prominence, in
:mod:`pose.estimator`) and hands the chosen people back (:meth:`FollowingDetector.follow`); each
is then followed by a one-person detector fed a crop centred on that person and re-centred on them
every frame, so that they stay where the landmarker's tracking expects them and nobody else is in
its view. While anyone is followed, a search runs beside the followers and is answered with the
next frame; a follower that loses its person makes a search due at once. Called through ``detect``
alone (nobody chosen), it searches every frame, as a plain detector would.

Raw poses from a crop are returned in the whole frame's normalised image coordinates; world points
(metres, between the hips) do not depend on the crop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from pose.backends import Detector, RawPose

# Threads that run the followers and a search side by side (more calls than this wait their turn).
MAX_THREADS = 3
# Bump when what a FollowingDetector reports for the same frames changes: caches of detections
# made by older code are then not used (pose.estimator.detection_settings).
FOLLOW_VERSION = 5
# Seconds between two searches of the whole frame for people (the choice of whom to follow is
# revisited as often; a person who walks in is found within this time).
SEARCH_EVERY_S = 0.5
# A follower's crop side over the larger extent of its person's landmarks in the picture: room
# for the person to move and stretch within one frame.
CROP_MARGIN = 1.6
MIN_CROP_PX = 96
# Crop sides are whole multiples of this: MediaPipe keeps buffers for every input size it is given,
# so a crop of a new size every frame grew the app by up to 230 MB in 350 frames (flat with steps).
CROP_STEP_PX = 64
# Weight of the newest extent in the crop's side: a crop that jumps in size would move the person
# within it, which the landmarker's tracking does not expect.
SIDE_EMA = 0.3
# Margins of the boxes kept (the followed person's) and blacked out (everyone else's) in a crop.
OWN_MARGIN, OTHER_MARGIN = 0.1, 0.0
# Two poses whose image landmarks lie on average within this share of the body's height of each
# other are one body (a search result that repeats a followed person is left out).
SAME_BODY = 0.25
# Two bodies whose boxes overlap by more than this (intersection over union) are too close to
# follow apart: a one-person landmarker on a crop around one of them can slip onto the other (two
# people hugging), so until a search finds everyone apart again each frame is searched whole.
OVERLAP_IOU = 0.2
# How long, in seconds, after the last overlap seen every frame stays searched: MediaPipe often
# finds only one of two people who overlap in a frame, not both (the NTU sample of a hug).
CROWDED_HOLD_S = 2.0
# With this many people followed or more, and frames at most ALTERNATE_MAX_MS apart (a 20 fps source
# or faster), each follower looks at every other frame, half of them on one frame and half on the
# next: a follower costs about 17 ms of CPU per 1080p frame here, two of them every frame left a 30 fps
# camera no room on two cores. Each person's poses then come at half the frame rate, which the windows
# (resampled by time) take with a loss within the seeds' spread on the video benchmark (0.202 against
# 0.209 class-balanced top-1 with every other frame's poses dropped, docs/BENCHMARKS.md); the estimator
# holds the resting person's last pose for the frame between (pose.estimator.HOLD_S).
ALTERNATE_FROM = 2
ALTERNATE_MAX_MS = 50

Box = tuple[int, int, int, int]  # x0, y0, width, height in pixels


def extent(points: np.ndarray, width: int, height: int) -> tuple[np.ndarray, float]:
    """Centre (x, y) in pixels and crop side in pixels for a body's normalised image points (K, 2+)."""
    xy = np.asarray(points, np.float64)[:, :2] * (width, height)
    low, high = xy.min(axis=0), xy.max(axis=0)
    return (low + high) / 2.0, max(float((high - low).max()) * CROP_MARGIN, MIN_CROP_PX)


def crop_box(centre: np.ndarray, side: float, width: int, height: int) -> Box:
    """The crop of ``side`` pixels rounded up to CROP_STEP_PX, centred on ``centre``, shifted and
    cut to lie in the frame."""
    side = CROP_STEP_PX * max(math.ceil(side / CROP_STEP_PX), 1)
    w, h = min(side, width), min(side, height)
    x0 = min(max(round(float(centre[0]) - w / 2.0), 0), width - w)
    y0 = min(max(round(float(centre[1]) - h / 2.0), 0), height - h)
    return x0, y0, w, h


def from_crop(raw: RawPose, box: Box, width: int, height: int) -> RawPose:
    """A raw pose found in crop ``box`` in the whole frame's normalised coordinates. The image z
    is on the scale of x (MediaPipe's convention), so it scales with the crop's width."""
    world, image = raw
    x0, y0, w, h = box
    out = np.array(image, np.float32, copy=True)
    out[:, 0] = (x0 + out[:, 0] * w) / width
    out[:, 1] = (y0 + out[:, 1] * h) / height
    out[:, 2] *= w / width
    return world, out


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of the boxes around two bodies' normalised image points (K, 2+)."""
    low = np.maximum(a[:, :2].min(axis=0), b[:, :2].min(axis=0))
    high = np.minimum(a[:, :2].max(axis=0), b[:, :2].max(axis=0))
    inter = float(np.prod(np.clip(high - low, 0.0, None)))
    area = [float(np.prod(np.ptp(p[:, :2], axis=0))) for p in (a, b)]
    union = area[0] + area[1] - inter
    return inter / union if union > 0 else 0.0


def same_body(a: np.ndarray, b: np.ndarray, aspect: float) -> bool:
    """Whether normalised image points ``a`` and ``b`` (K, 2+) are one body (see SAME_BODY)."""
    scale = np.array([aspect, 1.0])
    distance = np.linalg.norm((a[:, :2] - b[:, :2]) * scale, axis=1).mean()
    body = float(np.ptp(b[:, 1])) or 1e-3
    return bool(distance < SAME_BODY * body)


def pixel_box(points: np.ndarray, width: int, height: int, margin: float) -> Box:
    """The box (x0, y0, width, height in pixels) around normalised image points (K, 2+), grown by
    ``margin`` of its size on every side and cut to the frame."""
    xy = np.asarray(points, np.float64)[:, :2] * (width, height)
    low, high = xy.min(axis=0), xy.max(axis=0)
    grow = (high - low) * margin
    x0, y0 = np.clip(np.floor(low - grow), 0, (width, height)).astype(int)
    x1, y1 = np.clip(np.ceil(high + grow), 0, (width, height)).astype(int)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def masked_crop(image: np.ndarray, box: Box, own: Box | None, others: Sequence[Box]) -> np.ndarray:
    """The crop ``box`` of ``image`` with the boxes of other people blacked out, except where they
    overlap the followed person's own box: a one-person landmarker that has to find its person again
    then finds them, not a neighbour (two people side by side, whom MediaPipe's detector often
    reports one at a time). A view of the image when nobody else is in the crop."""
    x0, y0, w, h = box
    crop = image[y0 : y0 + h, x0 : x0 + w]
    inside = [(bx - x0, by - y0, bw, bh) for bx, by, bw, bh in others if bx < x0 + w and by < y0 + h]
    inside = [(bx, by, bw, bh) for bx, by, bw, bh in inside if bx + bw > 0 and by + bh > 0]
    if not inside:
        return crop
    out = crop.copy()
    for bx, by, bw, bh in inside:
        out[max(by, 0) : max(by + bh, 0), max(bx, 0) : max(bx + bw, 0)] = 0
    if own is not None:
        ox, oy, ow, oh = own[0] - x0, own[1] - y0, own[2], own[3]
        rows, cols = slice(max(oy, 0), max(oy + oh, 0)), slice(max(ox, 0), max(ox + ow, 0))
        out[rows, cols] = crop[rows, cols]
    return out


@dataclass(eq=False)  # compared by identity (list.remove)
class _Follower:
    """A one-person detector, where its person is (crop centre and side, pixels) and their last
    image points (normalised)."""

    detector: Detector
    centre: np.ndarray
    side: float
    points: np.ndarray | None = None
    lost: bool = False
    phase: int = 0  # which of two alternate frames it looks at (ALTERNATE_FROM)
    resting: bool = False  # skipped this frame


class FollowingDetector:
    """A :class:`pose.backends.Detector` that searches with ``search`` (a detector asked for every
    candidate) every ``search_every_s`` seconds and otherwise runs one ``open_follower()`` detector
    (asked for one person) per followed person on a crop around them. Followers are kept for
    reuse (opening one costs about 0.1 s) and closed with this detector.
    """

    def __init__(
        self, search: Detector, open_follower: Callable[[], Detector], search_every_s: float = SEARCH_EVERY_S
    ) -> None:
        self.name = search.name
        self.search_every_s = search_every_s
        self._search = search
        self._open_follower = open_follower
        self._following: list[_Follower] = []
        self._bystanders: list[np.ndarray] = []  # image points of the last search's other people
        self._spare: list[Detector] = []
        self._last_search_ms: int | None = None
        self._overlap_ms: int | None = None  # when people last overlapped (then nobody is followed)
        self._size = (0, 0)
        self._pool: ThreadPoolExecutor | None = None
        self._searching: Future[list[RawPose]] | None = None  # a search answered with the next frame
        self._last_ms: int | None = None  # the previous frame's timestamp
        self.frames = 0  # frames seen, and of those
        self.searches = 0  # the ones searched whole

    def detect(self, image: np.ndarray, timestamp_ms: int) -> list[RawPose]:
        """The followed people (from their crops) and, once a search has answered, the other candidates.

        While anyone is followed, a search runs in the background beside the followers (their own
        threads: MediaPipe releases the GIL) and is answered with the next frame: a search costs about
        twice a follower, so a frame that waited for it would miss a 30 fps camera's budget. Its
        people are then one frame old, which whom to follow and who else is in view can afford. The
        next frame always waits for it, so the same frames give the same answers however fast the
        machine (the video benchmark's detection cache relies on it). A follower that lost its person
        makes a search due at once. With nobody followed, every frame is searched, and answered, at once.
        """
        height, width = image.shape[:2]
        if (width, height) != self._size:  # a new source: nobody is where they were
            self.follow([])
            self._size = (width, height)
        self.frames += 1
        aspect = width / max(height, 1)
        alternate = (
            len(self._following) >= ALTERNATE_FROM
            and self._last_ms is not None
            and timestamp_ms - self._last_ms <= ALTERNATE_MAX_MS
        )
        self._last_ms = timestamp_ms
        for follower in self._following:
            follower.resting = alternate and (self.frames + follower.phase) % 2 == 1
        looking = [f for f in self._following if not f.resting]
        # A resting follower's person is not reported from a search either: they are seen on their
        # follower's frames only, so each of their poses carries the time it was taken. A follower
        # that lands on a resting one's person makes the resting one redundant.
        resters = [f for f in self._following if f.resting and f.points is not None]
        boxes = [crop_box(f.centre, f.side, width, height) for f in looking]
        pending = [self._submit(f.detector, self._view(f, image, box), timestamp_ms)
                   for f, box in zip(looking, boxes, strict=True)]  # fmt: skip
        earlier = self._collect()  # the previous frame's search, if one ran
        followed: list[RawPose] = []
        for follower, box, future in zip(looking, boxes, pending, strict=True):
            found = future.result()
            follower.lost = not found
            if not found:
                continue
            raw = from_crop(found[0], box, width, height)
            if any(same_body(raw[1], mine[1], aspect) for mine in followed):  # two on one body
                self._let_go(follower)
                continue
            for other in [f for f in resters if same_body(raw[1], f.points, aspect)]:
                self._let_go(other)  # one seen now, one that saw them before
                resters.remove(other)
            follower.centre, side = extent(raw[1], width, height)
            follower.side += SIDE_EMA * (side - follower.side)
            follower.points = raw[1]
            followed.append(raw)
        resting = [f.points for f in resters]
        if not self._following:  # nobody to follow: search this frame and answer with it
            earlier = self._search.detect(image, timestamp_ms)
            self.searches += 1
            self._last_search_ms = timestamp_ms
        elif (
            self._last_search_ms is None
            or timestamp_ms - self._last_search_ms >= self.search_every_s * 1000.0
            or any(f.lost for f in self._following)
        ):
            self._searching = self._submit(self._search, image, timestamp_ms)
            self.searches += 1
            self._last_search_ms = timestamp_ms
        if earlier is None:
            return followed
        known = [mine[1] for mine in followed] + resting
        others = [raw for raw in earlier if not any(same_body(raw[1], mine, aspect) for mine in known)]
        self._bystanders = [raw[1] for raw in others]
        found = followed + others
        bodies = [raw[1] for raw in found] + resting
        if any(box_iou(a, b) > OVERLAP_IOU for i, a in enumerate(bodies) for b in bodies[i + 1 :]):
            self._overlap_ms = timestamp_ms
            self.follow([])  # the search's own tracking serves every frame until people part
        return found

    def _let_go(self, follower: _Follower) -> None:
        """Stop following with ``follower`` (its detector kept for reuse)."""
        self._following.remove(follower)
        self._spare.append(follower.detector)

    def _submit(self, detector: Detector, image: np.ndarray, timestamp_ms: int) -> Future[list[RawPose]]:
        """``detector.detect`` on a thread of the pool (opened on first use)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix="pose-follow")
        return self._pool.submit(detector.detect, image, timestamp_ms)

    def _collect(self) -> list[RawPose] | None:
        """The answer of the search started on the previous frame (waited for), or None."""
        searching, self._searching = self._searching, None
        return None if searching is None else searching.result()

    @property
    def crowded(self) -> bool:
        """Whether people overlapped within CROWDED_HOLD_S of the last search (nobody is followed)."""
        return self._overlap_ms is not None and (
            self._last_search_ms is None or self._last_search_ms - self._overlap_ms < CROWDED_HOLD_S * 1000.0
        )

    def _view(self, follower: _Follower, image: np.ndarray, box: Box) -> np.ndarray:
        """What ``follower`` is shown: its crop, everyone else in it blacked out (``masked_crop``)."""
        height, width = image.shape[:2]
        aspect = width / max(height, 1)
        mine = follower.points
        people = [f.points for f in self._following if f is not follower and f.points is not None]
        people = [p for p in people + self._bystanders if mine is None or not same_body(p, mine, aspect)]
        own = None if mine is None else pixel_box(mine, width, height, OWN_MARGIN)
        return masked_crop(image, box, own, [pixel_box(p, width, height, OTHER_MARGIN) for p in people])

    def follow(self, chosen: Sequence[np.ndarray]) -> None:
        """Follow the people the estimator reports: ``chosen`` holds each one's normalised image
        points (K, 2+). A follower already on one of them (its crop centre within that person's
        crop) keeps them; the others are let go (kept for reuse) unless they rested this frame (their
        person, not seen now, may be missing from ``chosen``), and a person without a follower gets
        one, its crop centred on them. Nobody is followed while people overlap, or when ``chosen`` is
        empty."""
        width, height = self._size
        if not width:
            return
        wanted = [] if self.crowded else [(points, *extent(points, width, height)) for points in chosen]
        free = list(self._following)
        kept: list[_Follower] = []
        aspect = width / max(height, 1)
        self._bystanders = [
            b for b in self._bystanders if not any(same_body(b, points, aspect) for points, _, _ in wanted)
        ]
        for points, centre, side in wanted:
            near = [f for f in free if np.abs(f.centre - centre).max() <= side / 2.0]
            if near:
                follower = min(near, key=lambda f: float(np.linalg.norm(f.centre - centre)))
                free.remove(follower)
                if follower.lost:  # re-centred where the search found the person
                    follower.centre, follower.side, follower.points = centre, side, points
            else:
                detector = self._spare.pop() if self._spare else self._open_follower()
                phases = [f.phase for f in kept] + [f.phase for f in free if f.resting]
                follower = _Follower(
                    detector, centre, side, points, phase=int(phases.count(0) > phases.count(1))
                )
            kept.append(follower)
        if wanted:  # a follower that rested this frame has not seen its person yet: it keeps them
            kept.extend(f for f in free if f.resting)
            free = [f for f in free if not f.resting]
        self._spare.extend(f.detector for f in free)
        self._following = kept

    def close(self) -> None:
        self._searching = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for detector in [*(f.detector for f in self._following), *self._spare, self._search]:
            detector.close()
        self._following, self._spare = [], []
