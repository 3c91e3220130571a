"""NTU RGB+D's 25 joints, the one layout everything after a reader or a pose backend sees, and the
tables the sources share: Kinect v1's 20 joints, image axes to Kinect axes, Kinect's proportions.

A source whose mapping to NTU-25 is more than an index table keeps it beside the code that reads it:
MediaPipe's 33 landmarks in :mod:`pose.backends.mediapipe`, BVH rigs (mapped by joint name and bone
chain) in :mod:`pose.readers.bvh`. Adding a source layout means adding a table here or a mapping in
the new reader's or backend's own module, nothing else. Indices are 0-based throughout (the NTU
papers count from 1).
"""

from __future__ import annotations

import numpy as np

NTU25_NAMES: tuple[str, ...] = (
    "spine_base", "spine_mid", "neck", "head",
    "left_shoulder", "left_elbow", "left_wrist", "left_hand",
    "right_shoulder", "right_elbow", "right_wrist", "right_hand",
    "left_hip", "left_knee", "left_ankle", "left_foot",
    "right_hip", "right_knee", "right_ankle", "right_foot",
    "spine_shoulder", "left_hand_tip", "left_thumb", "right_hand_tip", "right_thumb",
)  # fmt: skip
NUM_JOINTS = len(NTU25_NAMES)
J = {name: i for i, name in enumerate(NTU25_NAMES)}

# (child, parent): a tree rooted at the spine base; drawing and the graph both use it.
NTU25_BONES: tuple[tuple[int, int], ...] = (
    (1, 0), (20, 1), (2, 20), (3, 2),
    (4, 20), (5, 4), (6, 5), (7, 6), (21, 7), (22, 7),
    (8, 20), (9, 8), (10, 9), (11, 10), (23, 11), (24, 11),
    (12, 0), (13, 12), (14, 13), (15, 14),
    (16, 0), (17, 16), (18, 17), (19, 18),
)  # fmt: skip
NTU25_CENTER = J["spine_mid"]


def joint_parents(num_joints: int = NUM_JOINTS) -> list[int]:
    """Each joint's parent on the NTU-25 tree (the root is its own parent, so its bone is zero); for
    another joint count every joint is its own parent."""
    parents = list(range(num_joints))
    if num_joints == NUM_JOINTS:
        for child, parent in NTU25_BONES:
            parents[child] = parent
    return parents


# Left joint, right joint: used for mirroring augmentation and for handedness checks.
NTU25_LEFT_RIGHT: tuple[tuple[int, int], ...] = (
    (4, 8),
    (5, 9),
    (6, 10),
    (7, 11),
    (21, 23),
    (22, 24),
    (12, 16),
    (13, 17),
    (14, 18),
    (15, 19),
)

# Image-aligned camera axes (MediaPipe's world landmarks, any pinhole camera: x right, y down, z
# away from the camera, unmirrored frame) to Kinect camera axes (x to the sensor's left: image right
# in Kinect's mirrored colour stream, so a facing person's left shoulder has the smaller x; y up; z
# away from the sensor). A half turn about z: a rotation (det +1), never a reflection, so left stays
# left.
MEDIAPIPE_TO_KINECT = np.array([[-1, 0, 0], [0, -1, 0], [0, 0, 1]], np.float32)

# Kinect's proportions, for sources that lack its spine mid and neck joints (MediaPipe, BVH rigs):
# measured as medians over the real NTU recordings in ../shared/data/ntu_skeletons, the spine mid
# sits 0.57 of the way from spine base to spine shoulder, the neck 0.35 of the way from spine
# shoulder to head.
SPINE_MID_RATIO = 0.57
NECK_RATIO = 0.35

# Kinect v1 (NW-UCLA, UTKinect; 20 joints) to NTU-25: the first 20 NTU joints are the v1 joints in
# the same order; the 5 extra ones come from the nearest v1 joint.
KINECT_V1_TO_NTU25: tuple[int, ...] = tuple(range(20)) + (2, 7, 7, 11, 11)


def kinect_v1_to_ntu25(joints: np.ndarray) -> np.ndarray:
    """Map Kinect v1 20-joint skeletons (..., 20, 3) to NTU-25 (..., 25, 3); axes are the same."""
    joints = np.asarray(joints, np.float32)
    if joints.shape[-2] != 20:
        raise ValueError(f"expected 20 Kinect v1 joints, got {joints.shape[-2]}")
    return joints[..., list(KINECT_V1_TO_NTU25), :]
