"""
Turning a frame and a face box into the exact input a model was trained on.

A model's manifest records its ``Preprocessing``; inference rebuilds it from there, so training and
run time cannot drift apart.
"""

from dataclasses import asdict, dataclass

import cv2
import numpy as np

FEATURES = ('pixels', 'hog')


@dataclass(frozen=True)
class Preprocessing:
    """
    size: side of the square model input; equalize: histogram equalization of the crop;
    margin: fraction of the detected box's side added on every side before cropping (negative
    crops tighter), so run-time Haar crops match the framing of the training faces.
    """

    size: int = 48
    equalize: bool = False
    margin: float = 0.0
    features: str = 'pixels'   # 'pixels' (the original) or 'hog': the vector the models see
    hog_cell: int = 8

    def __post_init__(self):
        if not 8 <= int(self.size) <= 256:
            raise ValueError(f'preprocessing size must be in [8, 256], got {self.size}')
        if self.features not in FEATURES:
            raise ValueError(f'preprocessing features must be one of {FEATURES}, '
                             f'got {self.features!r}')
        if self.features == 'hog' and (self.hog_cell < 2 or self.size % self.hog_cell
                                       or self.size < 2 * self.hog_cell):
            raise ValueError(f'hog_cell {self.hog_cell} must divide size {self.size} '
                             'at least twice')
        if not -0.4 <= float(self.margin) <= 1.0:
            raise ValueError(f'preprocessing margin must be in [-0.4, 1.0], got {self.margin}')

    @property
    def dimension(self) -> int:
        """Length of the vector the models see."""
        if self.features == 'hog':
            blocks = self.size // self.hog_cell - 1
            return blocks * blocks * 4 * 9   # 2x2 cells of 9 orientation bins per block
        return self.size * self.size

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data) -> 'Preprocessing':
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f'unknown preprocessing options: {sorted(unknown)}')
        return cls(**data)


def to_gray(image) -> np.ndarray:
    """Grayscale uint8 view of a 2-D, BGR or BGRA uint8 image; anything else is a ValueError."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f'expected a uint8 image, got {image.dtype}')
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    raise ValueError(f'expected a grayscale, BGR or BGRA image, got shape {image.shape}')


def crop(gray, box, margin=0.0) -> np.ndarray:
    """
    Crop box (x, y, w, h) grown by ``margin`` on each side; parts outside the frame replicate its
    edge.
    """
    x, y, w, h = box
    dx, dy = round(w * margin), round(h * margin)
    x0, y0, x1, y1 = x - dx, y - dy, x + w + dx, y + h + dy
    height, width = gray.shape[:2]
    pad = max(0, -x0, -y0, x1 - width, y1 - height)
    if pad:
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0, x1, y1 = x0 + pad, y0 + pad, x1 + pad, y1 + pad
    return gray[y0:y1, x0:x1]


def prepare(face, spec) -> np.ndarray:
    """Resize a grayscale face crop to the model's size and apply its options; returns uint8."""
    size = int(spec.size)
    if face.size == 0:
        raise ValueError('empty face crop')
    if face.shape[:2] != (size, size):
        shrinking = face.shape[0] > size or face.shape[1] > size
        face = cv2.resize(face, (size, size),
                          interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    if spec.equalize:
        face = cv2.equalizeHist(face)
    return face


def _hog(spec):
    cell = int(spec.hog_cell)
    return cv2.HOGDescriptor((spec.size, spec.size), (2 * cell, 2 * cell), (cell, cell),
                             (cell, cell), 9)


def prepare_batch(faces, spec) -> np.ndarray:
    """Prepare grayscale faces into the (n, D) float64 matrix the models see: pixels or HOG."""
    hog = _hog(spec) if spec.features == 'hog' else None
    rows = []
    for face in faces:
        face = prepare(face, spec)
        rows.append(hog.compute(face).ravel() if hog else face.ravel())
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
