"""
What a face detector gives the pipeline, whichever detector it is.

Both detectors (``yunet_detection.YuNetDetector``, ``haar_detection.HaarCascadeDetector``) have
``detect_faces(image) -> FrameFaces``: the faces as ``Face`` objects, the name of what decided
(``yunet`` or the Haar cascade's file) and, for Haar, its ``HaarDetection`` (which tells 'no
face' from 'several faces'). A face with landmarks is aligned by them; one without (Haar) is
cropped from its box with the model's margin.
"""

from dataclasses import dataclass

import numpy as np

from .boxes import box_size


@dataclass(frozen=True)
class Face:
    """
    One detected face in full-frame pixels: ``box`` (x, y, w, h) floats, ``landmarks`` a (5, 2)
    float32 array (image-left eye, image-right eye, nose tip, image-left and image-right mouth
    corner) or None (Haar), ``score`` the detector's confidence in [0, 1].
    """

    box: tuple
    landmarks: np.ndarray
    score: float

    @property
    def size(self) -> float:
        """Side of the box (geometric mean of width and height): what 'largest face' means."""
        return box_size(self.box)

    def int_box(self) -> tuple:
        """The box rounded to integer pixels, for ``crop``-style consumers."""
        return tuple(int(round(v)) for v in self.box)


@dataclass(frozen=True)
class FrameFaces:
    """One frame's faces, what decided (``yunet`` or a cascade file) and Haar's outcome."""

    faces: list
    decided_by: str
    detection: object = None
