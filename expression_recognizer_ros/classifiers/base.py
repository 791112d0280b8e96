"""
The one interface over every model backend: ``Classifier``, ``Prediction`` and the manifest.

A model directory holds ``manifest.json`` and the backend's files. Every backend answers
``predict`` with a ``Prediction`` per face, so nodes and tools never care which backend they run.
This module imports no backend; ``registry`` picks one by the manifest's ``backend``.
"""

from dataclasses import dataclass
import json
import os
import platform

import cv2
import numpy as np
import scipy

from .. import __version__
from ..core.preprocessing import prepare_batch, Preprocessing
from ..core.resources import file_sha256

MANIFEST = 'manifest.json'
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Prediction:
    """
    label: the decision; confidence: winning votes / models (ensemble) or probability;
    scores: one value per classifier label, in the classifier's label order (votes or
    probabilities); votes: the same counts as integers when the backend votes
    (``Classifier.n_models`` voters), else None.
    """

    label: str
    confidence: float
    scores: tuple
    # votes per label (in label order) from a voting ensemble; None for other backends
    votes: tuple = None


def library_versions() -> dict:
    """Versions of this package and the libraries a model's numbers depend on, for the manifest."""
    return {'expression_recognizer_ros': __version__, 'opencv': cv2.__version__,
            'numpy': np.__version__, 'scipy': scipy.__version__,
            'python': platform.python_version()}


def read_manifest(model_dir) -> dict:
    """Read and check the parts of a manifest every backend shares; errors name the directory."""
    path = os.path.join(model_dir, MANIFEST)
    if not os.path.isfile(path):
        raise ValueError(f'{model_dir}: no {MANIFEST}; is this a model directory?')
    try:
        with open(path, encoding='utf-8') as f:
            manifest = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f'{path}: unreadable manifest ({exc})') from None
    if not isinstance(manifest, dict):
        raise ValueError(f'{path}: the manifest must be a JSON object')
    missing = [k for k in ('format_version', 'backend', 'labels', 'preprocessing', 'files')
               if k not in manifest]
    if missing:
        raise ValueError(f'{path}: missing fields {missing}')
    if manifest['format_version'] != FORMAT_VERSION:
        raise ValueError(f'{path}: format_version {manifest["format_version"]}, '
                         f'this code reads {FORMAT_VERSION}')
    labels = manifest['labels']
    if not isinstance(labels, list) or len(labels) < 2 or len(set(labels)) != len(labels):
        raise ValueError(f'{path}: labels must be a list of at least two distinct names')
    try:
        manifest['preprocessing'] = Preprocessing.from_dict(manifest['preprocessing'])
    except (TypeError, ValueError) as exc:
        raise ValueError(f'{path}: bad preprocessing ({exc})') from None
    for entry in manifest['files']:
        file_path = os.path.join(model_dir, entry['file'])
        if not os.path.isfile(file_path):
            raise ValueError(f'{model_dir}: model file {entry["file"]} is missing')
        if file_sha256(file_path) != entry['sha256']:
            raise ValueError(f'{model_dir}: model file {entry["file"]} '
                             'does not match its checksum (corrupt?)')
    return manifest


def write_manifest(model_dir, manifest) -> None:
    """Write ``manifest.json`` with the format version and a checksum of every listed file."""
    data = dict(manifest, format_version=FORMAT_VERSION,
                preprocessing=manifest['preprocessing'].to_dict(),
                files=[{'file': name, 'sha256': file_sha256(os.path.join(model_dir, name))}
                       for name in manifest['files']])
    with open(os.path.join(model_dir, MANIFEST), 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=2)
        f.write('\n')


class Classifier:
    """
    The contract every backend keeps (subclasses set ``BACKEND`` and implement ``predict_vectors``,
    ``save`` and ``from_manifest``).

    labels: label names, the order of ``Prediction.scores``; preprocessing: the manifest's;
    manifest: as read or written; n_models: how many models vote (1 unless the backend is an
    ensemble).
    """

    BACKEND = ''
    n_models = 1

    def __init__(self, labels, preprocessing, manifest=None):
        self.labels = tuple(labels)
        self.preprocessing = preprocessing
        self.manifest = manifest or {}

    @property
    def id(self) -> str:
        return self.manifest.get('id', '')

    def features(self, faces) -> np.ndarray:
        """The (n, D) matrix the models see, from grayscale face crops of any size."""
        return prepare_batch(faces, self.preprocessing)

    def predict_vectors(self, X) -> list:
        """One Prediction per row of ``features`` output."""
        raise NotImplementedError

    def predict(self, faces) -> list:
        """Predict grayscale face crops (any size): preprocessing is the manifest's."""
        return self.predict_vectors(self.features(faces))

    def predict_members(self, X) -> tuple:
        """
        (predictions, member labels): the member labels are an (n, n_models) array of label
        indices, one column per voting model, or None for a backend that does not vote.
        """
        return self.predict_vectors(X), None

    def save_manifest(self, model_dir, manifest, files, **extra) -> None:
        """Write this classifier's backend, labels, preprocessing, ``files`` over ``manifest``."""
        self.manifest = dict(manifest, backend=self.BACKEND, labels=list(self.labels),
                             preprocessing=self.preprocessing, files=files, **extra)
        write_manifest(model_dir, self.manifest)
