"""
The CNN backend: an ONNX network run by OpenCV's DNN module, so run time never needs PyTorch.

The network sees the prepared face standardized per image (zero mean, unit variance: lighting and
contrast matter less) and answers one logit per label; logits divided by the temperature fitted on
held-out faces give probabilities that mean what they say (``calibration`` in the manifest). A
model may also carry one logit offset per label (``cnn.bias``, fitted with the temperature on
held-out faces), added before the division: it corrects a prior the training targets shifted (FER+
votes answer neutral more often than FER2013's own labels).
"""

import math
import os

import cv2
import numpy as np

from .base import Classifier, Prediction
from ..core.preprocessing import prepare

NETWORK = 'cnn.onnx'


def standardize(faces) -> np.ndarray:
    """(n, s, s) uint8 faces -> (n, 1, s, s) float32, each face at zero mean and unit variance."""
    x = np.asarray(faces, dtype=np.float32)
    x = x - x.mean(axis=(1, 2), keepdims=True)
    x /= np.maximum(x.std(axis=(1, 2), keepdims=True), 1.0 / 255)
    return x[:, None]


def softmax(logits) -> np.ndarray:
    """Row-wise softmax of (n, k) logits, shifted by each row's maximum so exp never overflows."""
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


class CnnClassifier(Classifier):
    """Expression classifier that runs an ONNX network through OpenCV's DNN module."""

    BACKEND = 'cnn-onnx'

    def __init__(self, labels, net, preprocessing, temperature=1.0, flip=False, manifest=None,
                 bias=None):
        """
        Flip: average the logits of a face and its mirror image (twice the work).

        bias: one offset per label added to the logits before the temperature (None: no offsets).
        """
        super().__init__(labels, preprocessing, manifest)
        self.net = net
        self.temperature = float(temperature)
        self.flip = bool(flip)
        self.bias = None if bias is None else np.asarray(bias, np.float64)

    def logits(self, blob) -> np.ndarray:
        """
        Raw logits for a standardized (n, 1, s, s) blob, mirror-averaged when ``flip`` is
        set.
        """
        self.net.setInput(np.ascontiguousarray(blob))
        out = self.net.forward().reshape(len(blob), -1)
        if self.flip:
            self.net.setInput(np.ascontiguousarray(blob[..., ::-1]))
            out = (out + self.net.forward().reshape(len(blob), -1)) / 2
        return out

    def features(self, faces) -> np.ndarray:
        """
        The standardized (n, 1, s, s) blob the network sees, from grayscale face crops of
        any size.
        """
        size = int(self.preprocessing.size)
        return standardize(np.array([prepare(f, self.preprocessing) for f in faces],
                                    np.uint8).reshape(-1, size, size))

    def predict_vectors(self, blob) -> list:
        if len(blob) == 0:
            return []
        logits = self.logits(blob)
        if self.bias is not None:
            logits = logits + self.bias
        probabilities = softmax(logits / self.temperature)
        best = probabilities.argmax(axis=1)
        return [Prediction(self.labels[b], float(p[b]), tuple(float(v) for v in p))
                for b, p in zip(best, probabilities)]

    def save(self, model_dir, manifest, onnx_bytes) -> None:
        os.makedirs(model_dir, exist_ok=True)
        with open(os.path.join(model_dir, NETWORK), 'wb') as f:
            f.write(onnx_bytes)
        self.net = read_network(model_dir)
        cnn = dict(manifest.get('cnn', {}), temperature=self.temperature, flip=self.flip)
        if self.bias is not None:
            cnn['bias'] = [float(b) for b in self.bias]
        self.save_manifest(model_dir, manifest, [NETWORK], cnn=cnn)

    @classmethod
    def from_manifest(cls, model_dir, manifest) -> 'CnnClassifier':
        options = manifest.get('cnn', {})
        temperature = options.get('temperature', 1.0)
        if not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ValueError(f'{model_dir}: cnn.temperature must be a positive number, '
                             f'got {temperature!r}')
        bias = options.get('bias')
        if bias is not None and (not isinstance(bias, list)
                                 or len(bias) != len(manifest['labels'])
                                 or not all(isinstance(b, (int, float)) and math.isfinite(b)
                                            for b in bias)):
            raise ValueError(f'{model_dir}: cnn.bias must be one finite number per label, '
                             f'got {bias!r}')
        model = cls(manifest['labels'], read_network(model_dir), manifest['preprocessing'],
                    temperature, options.get('flip', False), manifest, bias)
        size = manifest['preprocessing'].size
        out = model.logits(np.zeros((1, 1, size, size), np.float32))
        if out.shape != (1, len(model.labels)):
            raise ValueError(f'{model_dir}/{NETWORK}: {out.shape[1]} outputs '
                             f'for {len(model.labels)} labels')
        return model


def read_network(model_dir) -> 'cv2.dnn.Net':
    """The model directory's ONNX network; ValueError when OpenCV cannot read it."""
    path = os.path.join(model_dir, NETWORK)
    try:
        return cv2.dnn.readNetFromONNX(path)
    except cv2.error as exc:
        raise ValueError(f'{path}: OpenCV cannot read this ONNX network '
                         f'({str(exc).strip()[:200]})') from None
