"""Loading a model directory: the manifest's ``backend`` picks the class; shipped ones by name."""

import os

from .base import Classifier, read_manifest
from .cnn import CnnClassifier
from .ensemble import FisherfaceEnsemble
from .svm import LinearSvm
from ..core.resources import package_path

# chosen by end-to-end accuracy on the Yale faces: models/README.md
DEFAULT_MODEL = 'fisherface-fer2013'
BACKENDS = {cls.BACKEND: cls for cls in (FisherfaceEnsemble, LinearSvm, CnnClassifier)}


def load_classifier(model_dir) -> Classifier:
    """
    Load a model directory, or a shipped model by name (``cnn-fer2013``); the manifest's
    ``backend`` picks the class.
    """
    model_dir = resolve_model_dir(model_dir)
    manifest = read_manifest(model_dir)
    backend = BACKENDS.get(manifest['backend'])
    if backend is None:
        raise ValueError(f'{model_dir}: unknown backend {manifest["backend"]!r}; '
                         f'known: {sorted(BACKENDS)}')
    return backend.from_manifest(model_dir, manifest)


def default_model_dir() -> str:
    """The shipped model a node or tool loads when none is named."""
    return package_path('models', DEFAULT_MODEL)


def resolve_model_dir(model) -> str:
    """
    A directory as given; a bare name that is no directory here names a shipped model; '' the
    default.
    """
    if not model:
        return default_model_dir()
    if os.path.isdir(model) or os.sep in model:
        return model
    return package_path('models', model)
