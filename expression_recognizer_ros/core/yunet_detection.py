"""
Every face in a frame: the YuNet CNN detector (2023mar ONNX), the default detector, run by
``cv2.dnn`` and its outputs decoded here as ``cv2.FaceDetectorYN`` of OpenCV >= 4.8 decodes them,
behind a checked model file.

Why not ``cv2.FaceDetectorYN`` itself: the OpenCV a ROS machine gets from rosdep (4.5.4 on Humble,
4.6.0 on Jazzy and Kilted) has a FaceDetectorYN written for the 2022 model, which fails on the
2023mar file; ``cv2.dnn`` of those versions runs the network. The decoding is FaceDetectorYN's
(opencv modules/objdetect/src/face_detect.cpp): the input padded with zeros to a multiple of 32,
anchor-free boxes and landmarks per cell of strides 8, 16 and 32, score sqrt(cls * obj), NMS on
the integer boxes, top_k. It gives FaceDetectorYN's faces (models/yunet/README.md); one
difference: an image side of 32 px or less is padded to 64, where every OpenCV version agrees.

The model directory holds the ONNX file, its ``LICENSE`` and a ``manifest.json`` naming the
file's sha256; ``YuNetDetector`` refuses a missing or changed file with a clear error instead of
detecting nothing. The caller passes the directory, so this module needs only numpy and cv2.

Detection runs on the full frame or on a copy downscaled to at most ``max_width`` pixels wide
(480: a 640x480 frame in about 10 ms, every face of 80 px or more); boxes and landmarks always
come back in full-frame pixels. ``score_threshold`` 0.8 keeps profile and three-quarter faces
(they score 0.84-0.89) without false faces. The measurements behind both defaults are in
models/yunet/README.md.
"""

from dataclasses import dataclass
import json
import os

import cv2
import numpy as np

from .faces import Face, FrameFaces
from .resources import file_sha256

MANIFEST = 'manifest.json'
MODEL_FILE = 'face_detection_yunet_2023mar.onnx'
MODEL_SHA256 = '8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4'

# Landmark order YuNet returns, as seen in the image.
LEFT_EYE, RIGHT_EYE, NOSE, LEFT_MOUTH, RIGHT_MOUTH = range(5)
# YuNet's output heads, per stride: class and objectness scores, box and landmark offsets.
STRIDES = (8, 16, 32)
OUTPUTS = [f'{head}_{stride}' for head in ('cls', 'obj', 'bbox', 'kps') for stride in STRIDES]


def padded_size(side: int) -> int:
    """
    A side of the network's input: the image's, rounded up to a multiple of 32 (the largest
    stride) as FaceDetectorYN pads, and at least 64: with a side of 32, OpenCV 4.14's outputs
    change from run to run.
    """
    return max(2 * STRIDES[-1], -(-side // STRIDES[-1]) * STRIDES[-1])


class ModelFileError(RuntimeError):
    """The detector's model file is missing, unreadable or not the verified one."""


@dataclass(frozen=True)
class YuNetConfig:
    """
    score_threshold: faces scoring below are dropped; nms_threshold: IoU above which overlapping
    boxes are merged; top_k: candidates kept before NMS; max_width: detect on a copy downscaled to
    at most this width (0: full size); min_size: faces smaller than this many full-frame pixels
    (box side) are dropped.
    """

    score_threshold: float = 0.8
    nms_threshold: float = 0.3
    top_k: int = 50
    max_width: int = 480
    min_size: float = 0.0

    def validate(self) -> 'YuNetConfig':
        """Raise ValueError naming the first bad value."""
        if not 0.0 < self.score_threshold <= 1.0:
            raise ValueError(f'score_threshold must be in (0, 1], got {self.score_threshold}')
        if not 0.0 < self.nms_threshold <= 1.0:
            raise ValueError(f'nms_threshold must be in (0, 1], got {self.nms_threshold}')
        if self.top_k < 1:
            raise ValueError(f'top_k must be >= 1, got {self.top_k}')
        if self.max_width != 0 and self.max_width < 32:
            raise ValueError(f'max_width must be 0 (full size) or >= 32, got {self.max_width}')
        if self.min_size < 0:
            raise ValueError(f'min_size must be >= 0, got {self.min_size}')
        return self


def verified_model_path(model_dir: str) -> str:
    """
    Path of the YuNet ONNX in ``model_dir`` after checking it against the manifest's sha256 (and
    the sha256 this code was written for); raises ModelFileError naming what is wrong.
    """
    manifest_path = os.path.join(model_dir, MANIFEST)
    try:
        with open(manifest_path, encoding='utf-8') as f:
            manifest = json.load(f)
        entry = next(e for e in manifest['files'] if e['file'].endswith('.onnx'))
        name, expected = entry['file'], entry['sha256']
    except (OSError, ValueError, KeyError, TypeError, StopIteration) as exc:
        raise ModelFileError(f'{model_dir}: no readable YuNet manifest '
                             f'({manifest_path}: {exc})') from None
    if expected != MODEL_SHA256:
        raise ModelFileError(f'{manifest_path}: names sha256 {expected}, this code expects the '
                             f'verified YuNet 2023mar file {MODEL_SHA256}')
    path = os.path.join(model_dir, name)
    if not os.path.isfile(path):
        raise ModelFileError(f'{model_dir}: YuNet model file {name} is missing')
    actual = file_sha256(path)
    if actual != expected:
        raise ModelFileError(f"{path}: sha256 {actual} does not match the manifest's {expected} "
                             '(corrupt or replaced file)')
    return path


class YuNetDetector:
    """
    All faces of a BGR (or grayscale) frame, with landmarks for alignment; the pipeline tracks
    and smooths them in time (not ``per_frame``). Not thread-safe: one detector per thread.
    """

    name = 'yunet'
    per_frame = False

    def __init__(self, model_dir: str, config: YuNetConfig = YuNetConfig()):
        self.config = config.validate()
        self.model_path = verified_model_path(model_dir)
        try:
            self._net = cv2.dnn.readNetFromONNX(self.model_path)
        except cv2.error as exc:
            raise ModelFileError(f'{self.model_path}: OpenCV could not load it ({exc})') from None
        self._blob, self._blob_size = None, None

    def detection_size(self, width: int, height: int) -> tuple:
        """(width, height) of the image the network sees for a frame of this size."""
        limit = self.config.max_width
        if limit and width > limit:
            return limit, max(1, int(round(height * limit / width)))
        return width, height

    def detect_faces(self, image: np.ndarray) -> FrameFaces:
        """Every face of the frame, as the detectors' common answer."""
        return FrameFaces(self.detect(image), self.name)

    def detect(self, image: np.ndarray) -> list:
        """List of ``Face`` in full-frame pixels, highest score first."""
        image = np.asarray(image)
        if (image.dtype != np.uint8 or image.ndim not in (2, 3)
                or (image.ndim == 3 and image.shape[2] not in (1, 3, 4))):
            raise ValueError('detect needs a uint8 grayscale, BGR or BGRA image, '
                             f'got {image.dtype} {image.shape}')
        if image.ndim == 2 or image.shape[2] == 1:
            image = cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
        elif image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        height, width = image.shape[:2]
        size = self.detection_size(width, height)
        small = (image if size == (width, height)
                 else cv2.resize(image, size, interpolation=cv2.INTER_LINEAR))
        rows = self._rows(small)
        sx, sy = width / size[0], height / size[1]
        faces = []
        for row in rows:
            box = (float(row[0] * sx), float(row[1] * sy), float(row[2] * sx), float(row[3] * sy))
            landmarks = row[4:14].reshape(5, 2) * np.float32((sx, sy))
            face = Face(box, landmarks, float(row[14]))
            if face.size >= self.config.min_size:
                faces.append(face)
        faces.sort(key=lambda f: -f.score)
        return faces

    def _rows(self, image):
        """YuNet's faces in ``image``: FaceDetectorYN's rows (see ``decode``)."""
        height, width = image.shape[:2]
        # FaceDetectorYN's input: BGR as float, zeros right and below (what its copyMakeBorder
        # and blobFromImage make). Kept from frame to frame: only the image's part changes.
        if self._blob_size != (height, width):
            self._blob = np.zeros((1, 3, padded_size(height), padded_size(width)), np.float32)
            self._blob_size = (height, width)
        for channel, plane in zip(self._blob[0], cv2.split(image)):
            channel[:height, :width] = plane
        self._net.setInput(self._blob)
        outputs = dict(zip(OUTPUTS, self._net.forward(OUTPUTS)))
        return decode(outputs, self._blob.shape[3], self.config)


def decode(outputs: dict, input_width: int, config: YuNetConfig) -> np.ndarray:
    """
    YuNet 2023mar's faces from its outputs (name: array) for an input ``input_width`` wide, as
    FaceDetectorYN of OpenCV >= 4.8 decodes them: float32 rows of x, y, w, h, five landmarks'
    x, y and the score sqrt(cls * obj), of at least ``config.score_threshold``, after
    non-maximum suppression, highest score first.
    """
    rows = []
    for stride in STRIDES:
        cols = input_width // stride
        cls = np.clip(outputs[f'cls_{stride}'].reshape(-1), 0, 1)
        obj = np.clip(outputs[f'obj_{stride}'].reshape(-1), 0, 1)
        score = np.sqrt(cls * obj)
        keep = np.flatnonzero(score >= config.score_threshold)
        if not keep.size:
            continue
        # anchor-free: each cell predicts offsets from its own corner, in strides
        cell = np.stack((keep % cols, keep // cols), axis=1).astype(np.float32)
        bbox = outputs[f'bbox_{stride}'].reshape(-1, 4)[keep]
        kps = outputs[f'kps_{stride}'].reshape(-1, 5, 2)[keep]
        centre = (cell + bbox[:, :2]) * stride
        side = np.exp(bbox[:, 2:]) * stride
        landmarks = (kps + cell[:, None, :]) * stride
        rows.append(np.hstack((centre - side / 2, side, landmarks.reshape(-1, 10),
                               score[keep, None])).astype(np.float32))
    if not rows:
        return np.empty((0, 15), np.float32)
    rows = np.vstack(rows)
    # FaceDetectorYN suppresses on the boxes truncated to integers
    boxes = np.trunc(rows[:, :4]).astype(np.float64).tolist()
    keep = cv2.dnn.NMSBoxes(boxes, rows[:, 14].tolist(), config.score_threshold,
                            config.nms_threshold, top_k=config.top_k)
    return rows[np.asarray(keep, int).reshape(-1)]
