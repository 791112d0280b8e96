"""Geometry of (x, y, w, h) face boxes, shared by detection, tracking and the outputs."""

import math


def iou(a: tuple, b: tuple) -> float:
    """Intersection over union of two (x, y, w, h) boxes; 0 when both are empty."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    union = aw * ah + bw * bh - w * h
    return w * h / union if union > 0 else 0.0


def box_size(box: tuple) -> float:
    """Side of an (x, y, w, h) box: the square root of its area."""
    return math.sqrt(max(box[2], 0.0) * max(box[3], 0.0))


def clip_box(box: tuple, frame_size: tuple) -> tuple:
    """Corners (x0, y0, x1, y1) of an (x, y, w, h) box clipped to a (width, height) frame."""
    x, y, w, h = box
    width, height = frame_size
    x0, y0 = min(max(x, 0), width), min(max(y, 0), height)
    return x0, y0, min(max(x + w, x0), width), min(max(y + h, y0), height)


def box_center(box: tuple) -> tuple:
    """Centre (x, y) of an (x, y, w, h) box."""
    return (box[0] + box[2] / 2.0, box[1] + box[3] / 2.0)
