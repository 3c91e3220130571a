"""The MediaPipe-33 to NTU-25 mapping checked on real MediaPipe output against real Kinect skeletons.

MediaPipe output: the yoga landmark CSVs in ../shared/data/mediapipe_yoga (read with the project's
reader, which maps them with ``pose.backends.mediapipe.mediapipe_to_ntu25``). Reference: the NTU RGB+D Kinect
recordings in ../shared/data/ntu_skeletons, measured here, not quoted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pose.layouts import J
from pose.readers import read_skeleton_file
from tests.conftest import shared_path

FRONTAL_YOGA = ("goddess", "warrior", "chair")  # people facing the camera, square or nearly


def frames(paths: list[Path]) -> np.ndarray:
    """Every valid frame of the first person of each file, (N, 25, 3)."""
    out = []
    for path in paths:
        skeleton = read_skeleton_file(path)
        out.append(skeleton.joints[skeleton.valid[:, 0], 0])
    return np.concatenate(out)


@pytest.fixture(scope="module")
def yoga() -> np.ndarray:
    return frames(sorted(shared_path("mediapipe_yoga").glob("*.csv")))


@pytest.fixture(scope="module")
def kinect() -> np.ndarray:
    return frames(sorted(shared_path("ntu_skeletons").glob("*.skeleton")))


def distance(f: np.ndarray, a: str, b: str) -> np.ndarray:
    return np.linalg.norm(f[:, J[a]] - f[:, J[b]], axis=-1)


def along_spine(f: np.ndarray, joint: np.ndarray) -> np.ndarray:
    """A point's height along the spine, in torso lengths: 0 at the spine base, 1 at spine shoulder."""
    spine = f[:, J["spine_shoulder"]] - f[:, J["spine_base"]]
    return np.einsum("nd,nd->n", joint - f[:, J["spine_base"]], spine) / np.einsum("nd,nd->n", spine, spine)


def hand_reach(f: np.ndarray, side: str, joint: str) -> float:
    """Median distance of a hand joint from the wrist, in forearm lengths."""
    ratio = distance(f, f"{side}_{joint}", f"{side}_wrist") / distance(f, f"{side}_wrist", f"{side}_elbow")
    return float(np.median(ratio))


@pytest.mark.parametrize("joint", ["hand", "hand_tip", "thumb"])
def test_hand_joints_sit_where_kinect_puts_them(yoga: np.ndarray, kinect: np.ndarray, joint: str) -> None:
    """Kinect's hand is the palm, its tip the fingertips; MediaPipe's hand points are the knuckles
    and the thumb's root. Taken as they were (hand = mean of wrist and knuckles, tip = index
    knuckle, thumb = thumb root) they sat 40-80% nearer the wrist than Kinect's."""
    for side in ("left", "right"):
        assert hand_reach(yoga, side, joint) == pytest.approx(hand_reach(kinect, side, joint), rel=0.1)


def test_spine_shoulder_sits_above_the_shoulders_as_in_kinect(yoga: np.ndarray, kinect: np.ndarray) -> None:
    def shoulders_below(f: np.ndarray) -> float:
        centre = (f[:, J["left_shoulder"]] + f[:, J["right_shoulder"]]) / 2
        return float(np.median(1.0 - along_spine(f, centre)))

    assert shoulders_below(kinect) > 0.02  # the reference itself: Kinect puts it at the neck's base
    assert shoulders_below(yoga) == pytest.approx(shoulders_below(kinect), abs=0.03)


def test_synthesised_joints_lie_inside_the_body(yoga: np.ndarray) -> None:
    mid = along_spine(yoga, yoga[:, J["spine_mid"]])
    assert np.all((mid > 0.3) & (mid < 0.8))
    # The neck on the way from the spine shoulder to the head, nearer the former (head bowed or not).
    to_neck, to_head = distance(yoga, "neck", "spine_shoulder"), distance(yoga, "head", "spine_shoulder")
    assert np.allclose(to_neck + distance(yoga, "neck", "head"), to_head, atol=1e-4)
    assert np.all(to_neck < 0.5 * to_head)
    hip_width = distance(yoga, "left_hip", "right_hip")
    # Kinect's hip joints are narrower than the shoulders (MediaPipe's hip points are not).
    assert np.median(hip_width / distance(yoga, "left_shoulder", "right_shoulder")) < 0.6
    for side in ("left", "right"):  # the hand between the wrist and the fingertips
        assert np.all(
            distance(yoga, f"{side}_hand", f"{side}_wrist")
            < distance(yoga, f"{side}_hand_tip", f"{side}_wrist")
        )


def test_left_is_left_for_a_person_facing_the_camera() -> None:
    """Kinect axes: a facing person's left shoulder and hip have the smaller x, as in NTU."""
    paths = [
        p for p in sorted(shared_path("mediapipe_yoga").glob("*.csv")) if p.name.startswith(FRONTAL_YOGA)
    ]
    assert len(paths) == len(FRONTAL_YOGA)
    f = frames(paths)
    assert np.mean(f[:, J["left_shoulder"], 0] < f[:, J["right_shoulder"], 0]) > 0.95
    assert np.mean(f[:, J["left_hip"], 0] < f[:, J["right_hip"], 0]) > 0.95


@pytest.mark.parametrize(
    "a, b",
    [("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("left_hip", "left_knee"),
     ("left_knee", "left_ankle"), ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip")],
)  # fmt: skip
def test_bone_lengths_are_kinect_like(yoga: np.ndarray, kinect: np.ndarray, a: str, b: str) -> None:
    assert np.median(distance(yoga, a, b)) == pytest.approx(np.median(distance(kinect, a, b)), rel=0.35)
