"""The one interface over every model backend, and loading a model directory by its manifest.

A model directory holds ``manifest.json`` and the backend's files. Every backend answers ``predict``
with a ``Prediction`` per face, so nodes and tools never care which backend they run.
"""

import hashlib
import json
import os
import platform
from dataclasses import dataclass

import cv2
import numpy as np
import scipy

from . import __version__
from .preprocessing import Preprocessing
from .resources import package_path

MANIFEST = 'manifest.json'
FORMAT_VERSION = 1
DEFAULT_MODEL = 'fisherface-fer2013'  # chosen by end-to-end accuracy on the Yale faces: models/README.md


@dataclass(frozen=True)
class Prediction:
    """label: the decision; confidence: winning votes / models (ensemble) or probability;
    scores: one value per classifier label, in the classifier's label order (votes or probabilities)."""

    label: str
    confidence: float
    scores: tuple


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def library_versions():
    return {'expression_recognizer_ros': __version__, 'opencv': cv2.__version__, 'numpy': np.__version__,
            'scipy': scipy.__version__, 'python': platform.python_version()}


def read_manifest(model_dir):
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
    missing = [k for k in ('format_version', 'backend', 'labels', 'preprocessing', 'files') if k not in manifest]
    if missing:
        raise ValueError(f'{path}: missing fields {missing}')
    if manifest['format_version'] != FORMAT_VERSION:
        raise ValueError(f'{path}: format_version {manifest["format_version"]}, this code reads {FORMAT_VERSION}')
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
            raise ValueError(f'{model_dir}: model file {entry["file"]} does not match its checksum (corrupt?)')
    return manifest


def write_manifest(model_dir, manifest):
    data = dict(manifest, format_version=FORMAT_VERSION, preprocessing=manifest['preprocessing'].to_dict(),
                files=[{'file': name, 'sha256': file_sha256(os.path.join(model_dir, name))}
                       for name in manifest['files']])
    with open(os.path.join(model_dir, MANIFEST), 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=2)
        f.write('\n')


def load_classifier(model_dir):
    """Load a model directory, or a shipped model by name (``cnn-fer2013``); the manifest's ``backend``
    picks the class."""
    model_dir = resolve_model_dir(model_dir)
    from .baseline_svm import LinearSvm
    from .cnn import CnnClassifier
    from .ensemble import FisherfaceEnsemble
    backends = {cls.BACKEND: cls for cls in (FisherfaceEnsemble, LinearSvm, CnnClassifier)}
    manifest = read_manifest(model_dir)
    backend = backends.get(manifest['backend'])
    if backend is None:
        raise ValueError(f'{model_dir}: unknown backend {manifest["backend"]!r}; known: {sorted(backends)}')
    return backend.from_manifest(model_dir, manifest)


def default_model_dir():
    return package_path('models', DEFAULT_MODEL)


def resolve_model_dir(model):
    """A directory as given; a bare name that is no directory here names a shipped model; '' the default."""
    if not model:
        return default_model_dir()
    if os.path.isdir(model) or os.sep in model:
        return model
    return package_path('models', model)
