"""
Haar-cascade face detection with the original project's fallback rule: the fallback detector
(``PipelineConfig.detector='haar_fallback'``) and the original's, which the benchmark compares.

Cascades are tried in order; the first that finds exactly one face wins. No face, or several
faces in every cascade, gives no answer for the frame. ``lazy_cascades=True`` stops at the winner
(the same decision, less work); ``lazy_cascades=False`` runs every cascade on every frame as the
original code did, for benchmarking.

``track_face=True`` first searches the last frame's face neighbourhood (same cascades, same rule,
face sizes near the last one), a small fraction of the frame's cost, and falls back to the whole
frame when that does not give exactly one face, and at least every ``full_search_every``-th frame,
so that a second person stepping in is still seen.
"""

import copy
from dataclasses import dataclass
import os

import cv2
import numpy as np

from .faces import Face, FrameFaces
from .preprocessing import to_gray

DEFAULT_CASCADES = (
    'haarcascade_frontalface_default.xml',
    'haarcascade_frontalface_alt2.xml',
    'haarcascade_frontalface_alt.xml',
    'haarcascade_frontalface_alt_tree.xml',
)
FACE = 'face'
NO_FACE = 'no_face'
SEVERAL_FACES = 'several_faces'


@dataclass(frozen=True)
class HaarConfig:
    """
    Haar detection parameters: the original's, plus speed options whose defaults the benchmark
    chose (README, Performance). For unrelated still images set ``track_face=False``.
    """

    cascades: tuple = DEFAULT_CASCADES
    scale_factor: float = 1.1
    min_neighbors: int = 10
    min_size: int = 5
    max_size: int = 0           # 0: no upper bound
    lazy_cascades: bool = True    # stop at the first cascade with exactly one face
    detect_max_width: int = 0     # detect on a frame downscaled to this width; 0: full size
    # minimum face side as a fraction of the frame's shorter side (38 px at 480)
    min_size_ratio: float = 0.08
    track_face: bool = True       # search near the last frame's face first
    # with track_face: a whole-frame search at least every this many frames
    full_search_every: int = 10

    def validate(self) -> 'HaarConfig':
        """Raise ValueError naming the first bad value."""
        if not self.cascades:
            raise ValueError('cascades: at least one cascade is needed')
        if not self.scale_factor > 1.0:
            raise ValueError(f'scale_factor must be > 1.0, got {self.scale_factor}')
        if self.min_neighbors < 0:
            raise ValueError(f'min_neighbors must be >= 0, got {self.min_neighbors}')
        if self.min_size < 1:
            raise ValueError(f'min_size must be >= 1, got {self.min_size}')
        if self.max_size and self.max_size < self.min_size:
            raise ValueError(f'max_size ({self.max_size}) must be 0 '
                             f'or >= min_size ({self.min_size})')
        if self.detect_max_width < 0:
            raise ValueError(f'detect_max_width must be >= 0, got {self.detect_max_width}')
        if not 0.0 <= self.min_size_ratio < 1.0:
            raise ValueError(f'min_size_ratio must be in [0, 1), got {self.min_size_ratio}')
        if self.full_search_every < 1:
            raise ValueError(f'full_search_every must be >= 1, got {self.full_search_every}')
        return self


STILL_IMAGES = HaarConfig(track_face=False)   # images unrelated to each other: no tracking


@dataclass(frozen=True)
class HaarDetection:
    """What one frame gave: ``outcome`` is FACE, NO_FACE or SEVERAL_FACES."""

    outcome: str
    box: tuple = None       # (x, y, w, h) in the input frame's pixels, for FACE
    cascade: str = ''       # file name of the cascade that decided
    tracked: bool = False   # found near the last frame's face, without a whole-frame search

    @property
    def found(self) -> bool:
        return self.outcome == FACE


# Debian's and Ubuntu's python3-opencv (what rosdep installs) has no cv2.data: its cascades come
# with the opencv-data package, in the first of these
SYSTEM_CASCADE_DIRS = ('/usr/share/opencv4/haarcascades', '/usr/share/opencv/haarcascades')


def resolve_cascade(name: str) -> str:
    """Return the path of a cascade given as a path or as a file name in OpenCV's data folder."""
    data = getattr(cv2, 'data', None)   # the PyPI wheels' data folder
    folders = ([data.haarcascades] if data is not None else []) + list(SYSTEM_CASCADE_DIRS)
    candidates = ([name] if os.path.sep in name
                  else [name] + [os.path.join(folder, name) for folder in folders])
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f'cascade {name!r} not found (tried {", ".join(candidates)}); with '
                            "the distribution's python3-opencv: apt install opencv-data")


def load_cascade(name: str) -> cv2.CascadeClassifier:
    """
    Load a cascade, failing clearly on a missing or unreadable file rather than detecting
    nothing.
    """
    path = resolve_cascade(name)
    cascade = cv2.CascadeClassifier()
    try:
        loaded = cascade.load(path) and not cascade.empty()
    except cv2.error:
        loaded = False
    if not loaded:
        raise ValueError(f'cascade file {path!r} could not be read as a Haar cascade')
    return cascade


class HaarCascadeDetector:
    """
    The cascade fallback chain; cascades are loaded once, at construction. Each frame's answer
    stands alone (``per_frame``): the pipeline gives it no confirmation delay and no smoothing.
    """

    per_frame = True

    def __init__(self, config: HaarConfig = HaarConfig()):
        self.config = config.validate()
        self._cascades = [(os.path.basename(name), load_cascade(name)) for name in config.cascades]
        self._last = None         # (box, frame shape) of the last frame's face, for ``track``
        self._since_full = 0

    def reconfigured(self, config: HaarConfig) -> 'HaarCascadeDetector':
        """
        A detector with new parameters, reusing the loaded cascades when their list is
        unchanged.
        """
        if tuple(config.cascades) != tuple(self.config.cascades):
            return HaarCascadeDetector(config)
        clone = copy.copy(self)
        clone.config = config.validate()
        return clone

    def detect_faces(self, image: np.ndarray) -> FrameFaces:
        """The one face of a BGR or grayscale frame, or none, as the detectors' common answer."""
        detection = self.detect(to_gray(image))
        faces = [Face(detection.box, None, 1.0)] if detection.found else []
        return FrameFaces(faces, detection.cascade, detection)

    def detect(self, gray: np.ndarray) -> 'HaarDetection':
        """Find the face in a grayscale uint8 frame under the fallback rule."""
        if gray.ndim != 2 or gray.dtype != np.uint8:
            raise ValueError('detect needs a 2-D uint8 grayscale image, '
                             f'got {gray.dtype} {gray.shape}')
        cfg = self.config
        if (cfg.track_face and self._last is not None and self._last[1] == gray.shape
                and self._since_full < cfg.full_search_every):
            detection = self._detect_near(gray, self._last[0])
            if detection is not None:
                self._since_full += 1
                self._last = (detection.box, gray.shape)
                return detection
        detection = self._detect_frame(gray)
        self._since_full = 1
        self._last = (detection.box, gray.shape) if detection.found else None
        return detection

    def _detect_near(self, gray, box):
        """Exactly one face of about the last one's size near it, else None."""
        x, y, w, h = box
        x0, y0 = max(0, x - w), max(0, y - h)
        roi = gray[y0:y + 2 * h, x0:x + 2 * w]
        cfg = self.config
        min_side = max(cfg.min_size, round(cfg.min_size_ratio * min(gray.shape)), int(0.7 * w))
        max_side = min(int(1.4 * w) + 1, cfg.max_size or gray.shape[0])
        if max_side < min_side:
            return None
        for name, cascade in self._cascades:
            faces = cascade.detectMultiScale(
                roi, scaleFactor=cfg.scale_factor, minNeighbors=cfg.min_neighbors,
                minSize=(min_side, min_side), maxSize=(max_side, max_side))
            if len(faces) == 1:
                fx, fy, fw, fh = (int(v) for v in faces[0])
                return HaarDetection(FACE, (fx + x0, fy + y0, fw, fh), name, tracked=True)
            if len(faces) > 1:
                return None
        return None

    def _detect_frame(self, gray):
        cfg = self.config
        scale = 1.0
        small = gray
        if cfg.detect_max_width and gray.shape[1] > cfg.detect_max_width:
            scale = cfg.detect_max_width / gray.shape[1]
            small = cv2.resize(gray, (cfg.detect_max_width, round(gray.shape[0] * scale)),
                               interpolation=cv2.INTER_AREA)
        min_side = max(cfg.min_size, round(cfg.min_size_ratio * min(gray.shape) * scale))
        max_side = round(cfg.max_size * scale) if cfg.max_size else 0
        decision = None
        several = None
        for name, cascade in self._cascades:
            faces = cascade.detectMultiScale(
                small, scaleFactor=cfg.scale_factor, minNeighbors=cfg.min_neighbors,
                minSize=(min_side, min_side), maxSize=(max_side, max_side))
            if decision is None and len(faces) == 1:
                box = tuple(int(round(v / scale)) for v in faces[0])
                decision = HaarDetection(FACE, box, name)
                if cfg.lazy_cascades:
                    break
            elif several is None and len(faces) > 1:
                several = name
        if decision is not None:
            return decision
        return HaarDetection(SEVERAL_FACES, cascade=several) if several else HaarDetection(NO_FACE)
