"""
The original's FER2013 baseline: a linear SVM on raw pixels, kept to compare on the same splits.

scikit-learn trains it (an optional dependency, training only); inference is one NumPy product.
"""

import os

import numpy as np

from .base import Classifier, Prediction

WEIGHTS = 'linear_svm.npz'


class LinearSvm(Classifier):
    """The linear SVM baseline: one score per label from a NumPy product, the highest wins."""

    BACKEND = 'linear-svm'

    def __init__(self, labels, coef, intercept, preprocessing, manifest=None):
        super().__init__(labels, preprocessing, manifest)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = np.asarray(intercept, dtype=np.float64)

    def predict_vectors(self, X) -> list:
        scores = (np.asarray(X, dtype=np.float64) / 255.0) @ self.coef.T + self.intercept
        return [Prediction(self.labels[int(np.argmax(s))], 1.0, tuple(float(v) for v in s))
                for s in scores]

    def save(self, model_dir, manifest) -> None:
        os.makedirs(model_dir, exist_ok=True)
        np.savez_compressed(os.path.join(model_dir, WEIGHTS), coef=self.coef,
                            intercept=self.intercept)
        self.save_manifest(model_dir, manifest, [WEIGHTS])

    @classmethod
    def from_manifest(cls, model_dir, manifest) -> 'LinearSvm':
        try:
            with np.load(os.path.join(model_dir, WEIGHTS)) as data:
                coef, intercept = data['coef'], data['intercept']
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f'{model_dir}/{WEIGHTS}: unreadable SVM weights ({exc})') from None
        if coef.shape[0] != len(manifest['labels']) or intercept.shape != (coef.shape[0],):
            raise ValueError(f'{model_dir}: SVM weights do not match the manifest labels')
        return cls(manifest['labels'], coef, intercept, manifest['preprocessing'], manifest)


def train_linear_svm(X, y, labels, preprocessing, seed=0) -> LinearSvm:
    """Train the baseline with scikit-learn; labels the training set lacks never win."""
    try:
        from sklearn.svm import LinearSVC
    except ImportError:
        raise RuntimeError(
            'the SVM baseline needs scikit-learn: pip install scikit-learn') from None
    svm = LinearSVC(C=0.01, dual=False, random_state=seed).fit(np.asarray(X) / 255.0, y)
    coef = np.zeros((len(labels), svm.coef_.shape[1]))
    intercept = np.full(len(labels), -np.inf)
    coef[svm.classes_], intercept[svm.classes_] = svm.coef_, svm.intercept_
    return LinearSvm(labels, coef, intercept, preprocessing)
