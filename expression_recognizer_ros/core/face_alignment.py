"""
The grayscale face crop a classifier sees, from a detected face's five landmarks.

A similarity transform (rotation, uniform scale, translation; no shear, no mirror) maps the face's
landmarks onto a template given in fractions of the crop's side, and the crop is warped to ``size``
x ``size`` pixels.

Templates:
- ``HAAR_BOX_TEMPLATE`` (the default): where YuNet's landmarks fall inside the Haar box of the same
  face, median over the 89 uncropped Yale faces (all found by both detectors; interquartile range
  0.01-0.05 of the side). The FER2013-trained models saw faces framed about like a Haar box, so
  aligning to this template gives them the framing they were trained on, only upright and without
  the Haar box's jitter.
- ``ARCFACE_TEMPLATE``: the common 112x112 face-recognition template (a tighter, lower framing),
  for models trained on such crops.

``points='eyes'`` maps the two eyes exactly (the usual alignment); ``'all'`` fits all five points
by least squares (steadier when one eye is poorly placed, e.g. turned faces). ``rotate=False``
keeps the crop axis-aligned (scale and shift only): the box-style framing, like a detector box.
``zoom`` > 1 shows more around the face (zoom = 1 + 2 x margin in the Haar-crop sense).

Default (``AlignmentConfig()``): Haar-box template, all five points, upright (``rotate=False``),
zoom 1.0, 48x48: the box-style framing the shipped FER2013/CK+ models were trained on, placed by
the landmarks; chosen by end-to-end accuracy on the uncropped Yale faces (models/README.md).
Rotating the crop upright (``rotate=True, points='eyes'``) is the choice for models trained on
rotation-normalised faces, and for heads tilted beyond the CNN's +-10 degree training
augmentation.
"""

from dataclasses import dataclass

import cv2
import numpy as np

HAAR_BOX_TEMPLATE = ((0.312, 0.405), (0.684, 0.406), (0.494, 0.616), (0.333, 0.770),
                     (0.666, 0.776))
ARCFACE_TEMPLATE = tuple((x / 112.0, y / 112.0) for x, y in (
    (38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655),
    (70.7299, 92.2041)))
POINTS = ('eyes', 'all')


@dataclass(frozen=True)
class AlignmentConfig:
    """How a face is aligned: crop size, template, points fitted, rotation and zoom."""

    size: int = 48
    template: tuple = HAAR_BOX_TEMPLATE
    points: str = 'all'
    rotate: bool = False
    zoom: float = 1.0

    def validate(self) -> 'AlignmentConfig':
        if not 8 <= int(self.size) <= 512:
            raise ValueError(f'alignment size must be in [8, 512], got {self.size}')
        if self.points not in POINTS:
            raise ValueError(f'alignment points must be one of {POINTS}, got {self.points!r}')
        if np.asarray(self.template, dtype=np.float64).shape != (5, 2):
            raise ValueError('alignment template must be five (x, y) points')
        if not 0.25 <= float(self.zoom) <= 4.0:
            raise ValueError(f'alignment zoom must be in [0.25, 4], got {self.zoom}')
        return self

    def target_points(self) -> np.ndarray:
        """The template in crop pixels, zoom applied about the crop's centre."""
        t = np.asarray(self.template, dtype=np.float64)
        return (0.5 + (t - 0.5) / float(self.zoom)) * int(self.size)


def similarity_transform(src, dst, rotate=True) -> np.ndarray:
    """
    2x3 matrix of the similarity (least squares over the point pairs; exact for two points) that
    maps ``src`` (n, 2) onto ``dst`` (n, 2). ``rotate=False``: scale and translation only.
    """
    src = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    if len(src) != len(dst) or len(src) < 2:
        raise ValueError('need at least two matching point pairs')
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    norm = float((s ** 2).sum())
    if norm <= 1e-12:
        raise ValueError('source points coincide')
    if rotate:
        a = float((s * d).sum()) / norm                                   # scale * cos
        b = float((s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum()) / norm   # scale * sin
    else:
        a, b = float(np.sqrt((d ** 2).sum() / norm)), 0.0
    rot = np.array([[a, -b], [b, a]])
    return np.hstack([rot, (md - rot @ ms)[:, None]])


def alignment_matrix(landmarks, config=AlignmentConfig()) -> np.ndarray:
    """The 2x3 matrix taking frame pixels to crop pixels for a face's (5, 2) landmarks."""
    landmarks = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    target = config.target_points()
    pick = slice(0, 2) if config.points == 'eyes' else slice(0, 5)
    return similarity_transform(landmarks[pick], target[pick], config.rotate)


def fit_error(landmarks, matrix, config=AlignmentConfig()) -> np.ndarray:
    """Per-landmark distance (crop pixels) between the warped landmarks and the template."""
    pts = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    warped = pts @ matrix[:, :2].T + matrix[:, 2]
    return np.linalg.norm(warped - config.target_points(), axis=1)


def align_face(image, landmarks, config=AlignmentConfig()) -> np.ndarray:
    """
    The aligned ``size`` x ``size`` uint8 face from a grayscale (or BGR) frame; parts outside the
    frame replicate its edge, as the box crop does. Shrinking by more than 2x warps to an
    intermediate size first and then area-averages, so small crops are not aliased (the box path
    resizes with INTER_AREA).
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f'align_face needs a uint8 image, got {image.dtype}')
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY if image.shape[2] == 3
                             else cv2.COLOR_BGRA2GRAY)
    matrix = alignment_matrix(landmarks, config)
    size = int(config.size)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    factor = int(min(4, np.floor(1.0 / scale))) if scale < 0.5 else 1
    if factor > 1:
        big = cv2.warpAffine(image, matrix * factor, (size * factor, size * factor),
                             flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)

