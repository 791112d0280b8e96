"""
Fisherfaces (PCA then LDA) trained in NumPy/SciPy, stored in OpenCV's own model format.

OpenCV's ``FisherFaceRecognizer.train`` uses a general eigen-solver on a D x D matrix and took over
20 minutes for ten FER2013 models here; solving the symmetric generalized problem Sb v = l Sw v
with ``scipy.linalg.eigh`` gives the same subspace in seconds. Files are written with
``cv2.FileStorage`` in the layout of ``cv2.face.BasicFaceRecognizer``, and read back through OpenCV
itself, so ``cv2.face.FisherFaceRecognizer.read`` + ``predict`` and ``FisherfaceModel.predict``
agree.

Three decision rules in the projected space, all expressible in that file format:
``neighbour`` keeps every training projection (OpenCV's 1-nearest-neighbour, the original);
``centroid`` keeps one projection per class, its mean, in a subspace scaled to unit within-class
variance, so nearest neighbour becomes the nearest class mean by Mahalanobis distance;
``centroid-prior`` is the Bayes rule of LDA, ``argmin |z - m_c|^2 - 2 log p_c``: one extra subspace
dimension, zero for every query, holds ``sqrt(2 log(p_max / p_c))`` for class c, which adds exactly
that penalty to the squared distance OpenCV computes.
"""

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import linalg

DECISIONS = ('neighbour', 'centroid', 'centroid-prior')


@dataclass
class FisherfaceModel:
    """One Fisherface model: the subspace and its labelled reference points, as in OpenCV."""

    mean: np.ndarray          # (D,)
    eigenvectors: np.ndarray  # (D, k) projection W
    eigenvalues: np.ndarray   # (k,)
    projections: np.ndarray   # (m, k) reference points in the subspace
    labels: np.ndarray        # (m,) int32 class index of each reference point

    def project(self, X) -> np.ndarray:
        return (np.asarray(X, dtype=np.float64) - self.mean) @ self.eigenvectors

    def predict(self, X) -> tuple:
        """Class index and distance of the nearest reference point, for each row of X."""
        d2 = _squared_distances(self.project(X), self.projections)
        nearest = np.argmin(d2, axis=1)
        return self.labels[nearest], np.sqrt(d2[np.arange(len(nearest)), nearest])

    def write(self, path) -> None:
        """Write in cv2.face's YAML/XML layout (``.gz`` compresses; OpenCV reads either)."""
        fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
        if not fs.isOpened():
            raise OSError(f'cannot write {path}')
        fs.startWriteStruct('opencv_fisherfaces', cv2.FILE_NODE_MAP)
        fs.write('threshold', float(np.finfo(np.float64).max))
        fs.write('num_components', int(self.eigenvectors.shape[1]))
        fs.write('mean', self.mean.reshape(1, -1))
        fs.write('eigenvalues', self.eigenvalues.reshape(1, -1))
        fs.write('eigenvectors', self.eigenvectors)
        fs.startWriteStruct('projections', cv2.FILE_NODE_SEQ)
        for p in self.projections:
            fs.write('', p.reshape(1, -1))
        fs.endWriteStruct()
        fs.write('labels', self.labels.reshape(-1, 1).astype(np.int32))
        fs.startWriteStruct('labelsInfo', cv2.FILE_NODE_SEQ)
        fs.endWriteStruct()
        fs.endWriteStruct()
        fs.release()

    @classmethod
    def read(cls, path) -> 'FisherfaceModel':
        """Load through OpenCV's reader, so anything OpenCV rejects is rejected here too."""
        recognizer = cv2.face.FisherFaceRecognizer_create()
        try:
            recognizer.read(str(path))
        except cv2.error as exc:
            raise ValueError(
                f'{path}: not a readable OpenCV Fisherface model ({exc.err})') from None
        W = recognizer.getEigenVectors()
        projections = recognizer.getProjections()
        labels = recognizer.getLabels()
        mean = recognizer.getMean()
        if W is None or W.size == 0 or not projections or labels is None or mean is None:
            raise ValueError(f'{path}: Fisherface model is empty or incomplete')
        model = cls(mean=mean.ravel().astype(np.float64), eigenvectors=W.astype(np.float64),
                    eigenvalues=recognizer.getEigenValues().ravel().astype(np.float64),
                    projections=np.vstack([p.reshape(1, -1)
                                           for p in projections]).astype(np.float64),
                    labels=labels.ravel().astype(np.int32))
        if (model.mean.size != W.shape[0]
                or model.projections.shape != (model.labels.size, W.shape[1])):
            raise ValueError(f'{path}: Fisherface model matrices have inconsistent shapes')
        return model


def _squared_distances(A, B):
    d2 = (A * A).sum(1)[:, None] - 2.0 * A @ B.T + (B * B).sum(1)[None, :]
    return np.maximum(d2, 0.0)


def train_fisherface(X, y, decision='centroid-prior', pca_components=0) -> FisherfaceModel:
    """
    Train one Fisherface model on rows X (float64, n x D) with integer class indices y.

    As OpenCV: PCA to ``n - c`` components (``pca_components`` > 0 keeps fewer, a regularizer),
    then LDA to ``c - 1`` components; ``neighbour`` keeps OpenCV's unit-length directions in the
    PCA space, the centroid rules scale them to unit within-class variance.
    """
    if decision not in DECISIONS:
        raise ValueError(f'decision must be one of {DECISIONS}, got {decision!r}')
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int32)
    present = np.unique(y)
    c = len(present)
    if c < 2:
        raise ValueError('Fisherfaces need at least two classes in the training set')
    n, d = X.shape
    mean = X.mean(axis=0)
    Xc = X - mean
    k_pca = min(n - c, d) if not pca_components else min(pca_components, n - c, d)
    P = _pca_basis(Xc, k_pca)
    Z = Xc @ P
    class_means = np.stack([Z[y == cls].mean(axis=0) for cls in present])
    counts = np.array([(y == cls).sum() for cls in present], dtype=np.float64)
    within = Z - class_means[np.searchsorted(present, y)]
    Sw = within.T @ within
    Sb = (class_means * counts[:, None]).T @ class_means
    # keeps eigh well-posed on rank-deficient data
    Sw += np.eye(k_pca) * (1e-9 * np.trace(Sw) / k_pca)
    values, vectors = linalg.eigh(Sb, Sw)
    order = np.argsort(values)[::-1][:c - 1]
    values, V = values[order], vectors[:, order]
    if decision == 'neighbour':
        V = V / np.linalg.norm(V, axis=0)
        W = P @ V
        return FisherfaceModel(mean, W, values, Xc @ W, y)
    V = V * np.sqrt(max(n - c, 1))   # eigh gives V' Sw V = I; this is unit within-class variance
    W = P @ V
    projections = class_means @ V
    if decision == 'centroid-prior':
        log_prior = np.log(counts / n)
        offset = np.sqrt(2.0 * (log_prior.max() - log_prior))
        W = np.hstack([W, np.zeros((d, 1))])
        values = np.append(values, 0.0)
        projections = np.hstack([projections, offset[:, None]])
    return FisherfaceModel(mean, W, values, projections, present.astype(np.int32))


def _pca_basis(Xc, k):
    """Top-k principal directions (D x k) of centred rows, through the smaller of X'X and XX'."""
    n, d = Xc.shape
    if d <= n:
        values, vectors = linalg.eigh(Xc.T @ Xc)
        return vectors[:, np.argsort(values)[::-1][:k]]
    values, vectors = linalg.eigh(Xc @ Xc.T)
    order = np.argsort(values)[::-1][:k]
    basis = Xc.T @ vectors[:, order]
    return basis / np.linalg.norm(basis, axis=0)
