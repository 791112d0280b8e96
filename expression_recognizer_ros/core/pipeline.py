"""
One frame in, every face's expression out: detect, track, crop or align, classify, smooth and
choose the attended face.

``ExpressionPipeline.process(image, now)`` returns a ``FrameResult``: every confirmed face (a
``FaceResult`` with a stable track ID, largest first) and the attended one. Two detectors:

- ``yunet`` (the default): OpenCV's YuNet finds every face; ``FaceTracker`` gives each a stable
  ID (born after ``confirm_after`` frames, kept through ``max_missed`` missed frames); each face is
  aligned by its five landmarks (``face_alignment``), all faces are classified in one batch, and
  each track's class scores are smoothed in time (``time_constant`` seconds). ``AttendedSelector``
  picks the face a single-face consumer follows (``attend``: largest or centre, with hysteresis).
- ``haar_fallback``: the original's four-cascade chain with its exactly-one rule
  (``haar_detection``), a Haar box crop with the model's margin, no smoothing and no confirmation
  delay, so each frame's answer is the original's; the one face still gets a track ID (a new one
  after every frame without it).

Both detectors answer ``detect_faces(image)`` with the same ``faces.FrameFaces``; a face with
landmarks is aligned, one without is cropped from its box.
"""

import dataclasses
from dataclasses import dataclass, field
import time

import numpy as np

from .face_alignment import align_face, AlignmentConfig
from .haar_detection import HaarCascadeDetector, HaarConfig
from .preprocessing import crop, to_gray
from .resources import package_path
from .tracking import AttendedSelector, FaceTracker, STILL_IMAGE_TRACKING, TrackingConfig
from .yunet_detection import YuNetConfig, YuNetDetector

YUNET = 'yunet'
HAAR_FALLBACK = 'haar_fallback'
DETECTORS = (YUNET, HAAR_FALLBACK)


@dataclass(frozen=True)
class PipelineConfig:
    """Which detector, and the settings of each stage; the defaults are the package's defaults."""

    detector: str = YUNET
    yunet: YuNetConfig = YuNetConfig()
    haar: HaarConfig = HaarConfig()
    alignment: AlignmentConfig = AlignmentConfig()
    tracking: TrackingConfig = TrackingConfig()
    yunet_dir: str = ''           # empty: the shipped models/yunet

    def validate(self) -> 'PipelineConfig':
        """Raise ValueError naming the first bad value."""
        if self.detector not in DETECTORS:
            raise ValueError(f'detector must be one of {DETECTORS}, got {self.detector!r}')
        self.yunet.validate()
        self.haar.validate()
        self.alignment.validate()
        self.tracking.validate()
        return self


@dataclass(frozen=True)
class FaceResult:
    """
    One tracked face: ``box`` (x, y, w, h) int pixels; ``crop`` the grayscale image the
    classifier saw; ``prediction`` this frame's raw classifier output (None while the face is
    missed); ``scores`` the time-smoothed per-label scores (vote shares or probabilities) and
    ``label``/``confidence`` their arg-max; ``visible`` False during a short miss (the box is then
    the predicted one).
    """

    id: str
    box: tuple
    score: float
    label: str
    confidence: float
    scores: tuple
    prediction: object = None
    crop: np.ndarray = field(default=None, repr=False, compare=False)
    visible: bool = True


@dataclass(frozen=True)
class FrameResult:
    """
    Every face of a frame, largest first, and the attended one (None when nobody is in view).
    ``detector``: 'yunet', or the Haar cascade that decided; ``detection``: the Haar path's
    ``HaarDetection`` (its outcome tells 'no face' from 'several faces'), None for YuNet.
    """

    faces: tuple
    attended: FaceResult = None
    detector: str = ''
    detection: object = None
    frame_size: tuple = (0, 0)

    @property
    def num_faces(self) -> int:
        """Faces in view (confirmed tracks, including those within a short miss)."""
        return len(self.faces)


def make_detector(config: PipelineConfig) -> YuNetDetector | HaarCascadeDetector:
    """The detector ``config.detector`` names, built from its settings."""
    if config.detector == YUNET:
        return YuNetDetector(config.yunet_dir or package_path('models', 'yunet'), config.yunet)
    return HaarCascadeDetector(config.haar)


def score_vector(prediction, n_models: int) -> np.ndarray:
    """Per-label scores summing to 1: vote shares for a voting ensemble, else the probabilities."""
    if prediction.votes is not None:
        return np.asarray(prediction.votes, np.float64) / max(1, n_models)
    return np.asarray(prediction.scores, np.float64)


class ExpressionPipeline:
    """The detector, tracker and a loaded classifier. Not thread-safe: one pipeline per thread."""

    def __init__(self, classifier, config: PipelineConfig = PipelineConfig()):
        self.classifier = classifier
        self.config = config.validate()
        self.detector = make_detector(config)
        tracking = STILL_IMAGE_TRACKING if self.detector.per_frame else config.tracking
        self.tracker = FaceTracker(tracking)
        self.selector = AttendedSelector(tracking.attend, tracking.attend_margin)

    @property
    def detector_name(self) -> str:
        """'yunet' or 'haar_fallback'."""
        return self.config.detector

    def reconfigure(self, haar_config: HaarConfig) -> None:
        """Swap the Haar detection parameters; raises ValueError (keeping the old ones) if bad."""
        if isinstance(self.detector, HaarCascadeDetector):
            self.detector = self.detector.reconfigured(haar_config)
        self.config = dataclasses.replace(self.config, haar=haar_config.validate())

    def reset(self) -> None:
        """Forget every track and the attended face: the next image is unrelated to the last."""
        self.tracker.reset()
        self.selector.reset()

    def process(self, image, now=None) -> FrameResult:
        """
        All faces of one BGR or grayscale frame; ``now`` in seconds (the image stamp; default:
        the monotonic clock) drives the tracks' smoothing.
        """
        now = time.monotonic() if now is None else float(now)
        gray = to_gray(image)
        found = self.detector.detect_faces(image)
        tracks = self.tracker.update(found.faces, now)
        seen = [t for t in tracks if t.visible]
        crops = [self._crop(gray, t) for t in seen]
        ids = [t.id for t in seen]
        predictions = dict(zip(ids, self.classifier.predict(crops))) if crops else {}
        crop_of = dict(zip(ids, crops))
        results = []
        for track in tracks:
            prediction = predictions.get(track.id)
            if prediction is not None:
                track.smooth(score_vector(prediction, self.classifier.n_models), now)
            smoothed = track.smoothed
            if smoothed is None:
                continue
            best = int(np.argmax(smoothed))
            results.append(FaceResult(
                track.id, tuple(int(round(v)) for v in track.box),
                float(track.face.score), self.classifier.labels[best],
                float(smoothed[best]), tuple(float(v) for v in smoothed), prediction,
                crop_of.get(track.id), track.visible))
        height, width = gray.shape[:2]
        classified = [t for t in tracks if t.smoothed is not None]
        attended_id = self.selector.select(classified, (width, height))
        attended = next((r for r in results if r.id == attended_id), None)
        return FrameResult(tuple(results), attended, found.decided_by, found.detection,
                           (width, height))

    def _crop(self, gray, track):
        landmarks = track.face.landmarks
        if landmarks is not None:
            return align_face(gray, landmarks, self.config.alignment)
        box = tuple(int(round(v)) for v in track.face.box)
        return crop(gray, box, self.classifier.preprocessing.margin)
