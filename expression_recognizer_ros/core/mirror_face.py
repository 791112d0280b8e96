"""
A cartoon robot face for each expression: what a mirroring robot shows back.

Each expression is a handful of numbers (``FACES``): how far the brows are raised and tilted, how
open the eyes are, how the mouth curves and opens. Unknown expressions render as neutral.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from .labels import ANGRY, CONTEMPT, DISGUSTED, HAPPY, NEUTRAL, SAD, SCARED, SURPRISED


@dataclass(frozen=True)
class FaceShape:
    """The handful of numbers that draw one expression on the robot face."""

    brow_raise: float = 0.0   # + up, in eye heights
    brow_tilt: float = 0.0    # + inner ends down (angry), - inner ends up (sad, scared)
    eye_open: float = 1.0     # eye height relative to neutral
    mouth_curve: float = 0.0  # + smile, - frown
    mouth_open: float = 0.0   # 0 closed line .. 1 wide open
    mouth_width: float = 1.0
    mouth_skew: float = 0.0   # one corner up (contempt)


FACES = {
    NEUTRAL: FaceShape(),
    HAPPY: FaceShape(brow_raise=0.2, eye_open=0.7, mouth_curve=0.8, mouth_open=0.15,
                     mouth_width=1.25),
    SAD: FaceShape(brow_tilt=-0.6, eye_open=0.75, mouth_curve=-0.6, mouth_width=0.9),
    ANGRY: FaceShape(brow_raise=-0.3, brow_tilt=0.8, eye_open=0.8, mouth_curve=-0.3,
                     mouth_width=0.8),
    SURPRISED: FaceShape(brow_raise=0.8, eye_open=1.5, mouth_open=0.9, mouth_width=0.6),
    SCARED: FaceShape(brow_raise=0.5, brow_tilt=-0.5, eye_open=1.4, mouth_curve=-0.3,
                      mouth_open=0.4),
    DISGUSTED: FaceShape(brow_raise=-0.2, brow_tilt=0.4, eye_open=0.6, mouth_curve=-0.5,
                         mouth_open=0.2, mouth_skew=0.4),
    CONTEMPT: FaceShape(eye_open=0.8, mouth_skew=0.8),
}

SKIN, INK, MOUTH = (120, 200, 250), (40, 40, 40), (60, 40, 140)


def render_face(expression, width=320, height=240) -> np.ndarray:
    """BGR (height, width, 3) uint8 image of the robot face showing ``expression``."""
    shape = FACES.get(expression, FACES[NEUTRAL])
    s = min(width, height) / 240.0
    image = np.full((height, width, 3), 235, np.uint8)
    cx, cy = width // 2, height // 2
    cv2.ellipse(image, (cx, cy), (int(110 * s), int(110 * s)), 0, 0, 360, SKIN, -1, cv2.LINE_AA)
    eye_h = max(2, int(14 * s * shape.eye_open))
    for side in (-1, 1):
        ex, ey = cx + side * int(40 * s), cy - int(25 * s)
        cv2.ellipse(image, (ex, ey), (int(13 * s), eye_h), 0, 0, 360, (255, 255, 255), -1,
                    cv2.LINE_AA)
        cv2.circle(image, (ex, ey), max(2, int(6 * s)), INK, -1, cv2.LINE_AA)
        brow_y = ey - int((24 + 14 * shape.brow_raise) * s) - eye_h + int(14 * s)
        inner = (ex - side * int(16 * s), brow_y + int(10 * s * shape.brow_tilt))
        outer = (ex + side * int(16 * s), brow_y - int(10 * s * shape.brow_tilt))
        cv2.line(image, inner, outer, INK, max(2, int(5 * s)), cv2.LINE_AA)
    half = int(38 * s * shape.mouth_width)
    my = cy + int(50 * s)
    xs = np.linspace(-1, 1, 25)
    curve = shape.mouth_curve * (xs ** 2 - 0.3) * 22 * s + shape.mouth_skew * xs * 14 * s
    top = np.stack([cx + xs * half, my - curve], 1)
    bottom = np.stack([cx + xs * half, my - curve + (1 - xs ** 2) * shape.mouth_open * 40 * s], 1)
    if shape.mouth_open > 0.05:
        cv2.fillPoly(image, [np.vstack([top, bottom[::-1]]).astype(np.int32)], MOUTH, cv2.LINE_AA)
    cv2.polylines(image, [top.astype(np.int32)], False, INK, max(2, int(4 * s)), cv2.LINE_AA)
    return image
