"""pose.camera_motion: the background's shift between frames, people left out."""

from __future__ import annotations

import numpy as np
import pytest

from pose.camera_motion import WIDTH, BackgroundMotion, background_mask

SIZE = (360, 640)  # height, width: twice the grey copy's width


def scene(rng: np.random.Generator) -> np.ndarray:
    """A textured picture larger than the frames cut from it (corners everywhere)."""
    import cv2

    noise = rng.uniform(0, 255, (SIZE[0] + 80, SIZE[1] + 80)).astype(np.uint8)
    blurred = cv2.GaussianBlur(noise, (0, 0), 2.0)
    return np.repeat(blurred[:, :, None], 3, axis=2)


def frame(picture: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The picture as a camera sees it when the background moved by (dx, dy) pixels."""
    return np.ascontiguousarray(picture[40 - dy : 40 - dy + SIZE[0], 40 - dx : 40 - dx + SIZE[1]])


def test_the_background_shift_is_measured_in_normalised_units() -> None:
    picture = scene(np.random.default_rng(0))
    motion = BackgroundMotion()
    assert motion.shift(frame(picture, 0, 0), 0, []) is None  # the first frame: nothing to compare
    found = motion.shift(frame(picture, 8, -6), 33, [])
    assert found == pytest.approx([8 / SIZE[1], -6 / SIZE[0]], abs=0.5 / WIDTH)
    still = motion.shift(frame(picture, 8, -6), 66, [])
    assert still == pytest.approx([0.0, 0.0], abs=0.2 / WIDTH)


def test_a_moving_person_is_not_the_background() -> None:
    """Half the picture is a person moving on their own: their box is left out, so the still
    background is measured, not their motion."""
    rng = np.random.default_rng(1)
    picture, other = scene(rng), scene(rng)
    person = np.array([[0.05, 0.05], [0.55, 0.95]])  # their image points span this box
    first, second = frame(picture, 0, 0), frame(picture, 0, 0)
    first[:, : SIZE[1] // 2] = frame(other, 0, 0)[:, : SIZE[1] // 2]
    second[:, : SIZE[1] // 2] = frame(other, 12, 4)[:, : SIZE[1] // 2]  # the person moved
    motion = BackgroundMotion()
    motion.shift(first, 0, [person])
    assert motion.shift(second, 33, [person]) == pytest.approx([0.0, 0.0], abs=0.2 / WIDTH)


def test_no_shift_from_a_blank_frame() -> None:
    motion = BackgroundMotion()
    blank = np.zeros((*SIZE, 3), np.uint8)
    motion.shift(blank, 0, [])
    assert motion.shift(blank, 33, []) is None


def test_the_mask_leaves_out_each_persons_grown_box() -> None:
    mask = background_mask((100, 200), [np.array([[0.25, 0.2], [0.5, 0.6]]), np.full((3, 2), np.nan)])
    assert mask[40, 75] == 0 and mask[40, 150] == 255 and mask[5, 5] == 255
    assert mask[15, 70] == 0  # within the margin above the box
