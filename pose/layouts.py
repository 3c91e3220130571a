"""Every joint layout the project reads, and its mapping to NTU RGB+D's 25 joints, in one place.

Indices are 0-based throughout (the NTU papers count from 1). Adding a source layout means adding a
table and one mapping function here, nothing else.
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

MEDIAPIPE33_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip
MP = {name: i for i, name in enumerate(MEDIAPIPE33_NAMES)}

# MediaPipe world axes are x right, y down, z away from the camera (image-aligned, unmirrored
# frame). Kinect camera axes are x to the sensor's left (image right in Kinect's mirrored colour
# stream, so a facing person's left shoulder has the smaller x), y up, z away from the sensor.
# Going from one to the other is a half turn about z: a rotation (det +1), never a reflection,
# so left stays left.
MEDIAPIPE_TO_KINECT = np.array([[-1, 0, 0], [0, -1, 0], [0, 0, 1]], np.float32)

# Where Kinect puts joints that MediaPipe lacks, measured as medians over the real NTU recordings
# in ../shared/data/ntu_skeletons: the spine mid sits 0.57 of the way from spine base to spine
# shoulder, the neck 0.35 of the way from spine shoulder to head, and Kinect's hip joints are about
# 0.13 m apart, narrower than MediaPipe's hip landmarks, so those are pulled toward their centre.
SPINE_MID_RATIO = 0.57
NECK_RATIO = 0.35
HIP_INWARD = 0.65
# Kinect's spine-shoulder joint sits at the base of the neck, above the line between the shoulder
# joints: on the NTU recordings the shoulders' centre lies 0.05 torso lengths below it.
SHOULDER_RISE = 0.05
# Kinect's hand, hand tip and thumb lie 0.31, 0.57 and 0.41 forearm lengths from the wrist (medians,
# NTU recordings). MediaPipe's nearest points are closer in and their distances vary with the input:
# its index and pinky points are the knuckles, and its thumb point, near the thumb's root, lies 0.09
# forearm lengths from the wrist in world landmarks but about 0.2 in image landmarks (medians on the
# real videos in ../shared/data/videos and the yoga CSVs; ``python -m app.live_gap``). So each joint
# takes only its direction from MediaPipe (wrist to knuckles' centre, to index, to thumb) and Kinect's
# distance, in forearm lengths.
HAND_REACH = 0.31
TIP_REACH = 0.57
THUMB_REACH = 0.41

# Kinect v1 (NW-UCLA, UTKinect; 20 joints) to NTU-25: the first 20 NTU joints are the v1 joints in
# the same order; the 5 extra ones come from the nearest v1 joint.
KINECT_V1_TO_NTU25: tuple[int, ...] = tuple(range(20)) + (2, 7, 7, 11, 11)


def mediapipe_to_ntu25(landmarks: np.ndarray, world: bool = True) -> np.ndarray:
    """Map MediaPipe-33 landmarks (..., 33, C>=2) to NTU-25 joints (..., 25, C).

    With ``world`` the input is MediaPipe world landmarks and the output is in Kinect axes; without
    it the coordinates are kept as they are (image landmarks, for drawing the NTU skeleton over the
    video). Joints NTU has and MediaPipe lacks are synthesised from their neighbours; hands, tips
    and thumbs come from MediaPipe's hand points. With ``world``, only the first three columns are
    read (a fourth, visibility, is dropped).
    """
    lm = np.asarray(landmarks, np.float32)
    if world:
        lm = lm[..., :3] @ MEDIAPIPE_TO_KINECT.T
    if lm.shape[-2] != len(MEDIAPIPE33_NAMES):
        raise ValueError(f"expected 33 MediaPipe landmarks, got {lm.shape[-2]}")
    out = np.zeros(lm.shape[:-2] + (NUM_JOINTS, lm.shape[-1]), np.float32)

    def mp(name: str) -> np.ndarray:
        return lm[..., MP[name], :]

    hip_c = (mp("left_hip") + mp("right_hip")) / 2
    sh_c = (mp("left_shoulder") + mp("right_shoulder")) / 2
    head = (mp("left_ear") + mp("right_ear")) / 2
    spine_sh = sh_c + SHOULDER_RISE * (sh_c - hip_c)
    out[..., J["spine_base"], :] = hip_c
    out[..., J["spine_shoulder"], :] = spine_sh
    out[..., J["spine_mid"], :] = hip_c + SPINE_MID_RATIO * (spine_sh - hip_c)
    out[..., J["neck"], :] = spine_sh + NECK_RATIO * (head - spine_sh)
    out[..., J["head"], :] = head
    for side in ("left", "right"):
        wrist = mp(f"{side}_wrist")
        forearm = np.linalg.norm(wrist - mp(f"{side}_elbow"), axis=-1, keepdims=True)

        def reach(point: np.ndarray, ratio: float, wrist: np.ndarray = wrist, forearm: np.ndarray = forearm):
            """``ratio`` forearm lengths from the wrist toward ``point``."""
            away = point - wrist
            return wrist + ratio * forearm * away / np.maximum(
                np.linalg.norm(away, axis=-1, keepdims=True), 1e-6
            )

        out[..., J[f"{side}_shoulder"], :] = mp(f"{side}_shoulder")
        out[..., J[f"{side}_elbow"], :] = mp(f"{side}_elbow")
        out[..., J[f"{side}_wrist"], :] = wrist
        out[..., J[f"{side}_hand"], :] = reach((mp(f"{side}_pinky") + mp(f"{side}_index")) / 2, HAND_REACH)
        out[..., J[f"{side}_hand_tip"], :] = reach(mp(f"{side}_index"), TIP_REACH)
        out[..., J[f"{side}_thumb"], :] = reach(mp(f"{side}_thumb"), THUMB_REACH)
        out[..., J[f"{side}_hip"], :] = hip_c + HIP_INWARD * (mp(f"{side}_hip") - hip_c)
        out[..., J[f"{side}_knee"], :] = mp(f"{side}_knee")
        out[..., J[f"{side}_ankle"], :] = mp(f"{side}_ankle")
        out[..., J[f"{side}_foot"], :] = mp(f"{side}_foot_index")
    return out


def kinect_v1_to_ntu25(joints: np.ndarray) -> np.ndarray:
    """Map Kinect v1 20-joint skeletons (..., 20, 3) to NTU-25 (..., 25, 3); axes are the same."""
    joints = np.asarray(joints, np.float32)
    if joints.shape[-2] != 20:
        raise ValueError(f"expected 20 Kinect v1 joints, got {joints.shape[-2]}")
    return joints[..., list(KINECT_V1_TO_NTU25), :]
