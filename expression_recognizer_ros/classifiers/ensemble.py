"""
The Fisherface ensemble: N models on random subsets of the training set, majority vote.

Voting: each model votes for its nearest reference point's label; the label with most votes wins.
Tie-break (deterministic): among tied labels, the one whose voters' mean distance is smallest, then
the first in label order. ``confidence`` = winning votes / N.
"""

import os

import numpy as np

from .base import Classifier, Prediction
from .fisherface import FisherfaceModel, train_fisherface


class FisherfaceEnsemble(Classifier):
    """Fisherface models that vote; the label with most votes wins (see the module's tie-break)."""

    BACKEND = 'fisherface-ensemble'

    def __init__(self, labels, members, preprocessing, manifest=None):
        super().__init__(labels, preprocessing, manifest)
        self.members = list(members)
        # One matrix product projects a face into every member's subspace at once.
        self._W = np.hstack([m.eigenvectors for m in self.members])
        self._offset = np.concatenate([m.mean @ m.eigenvectors for m in self.members])
        self._slices = np.cumsum([0] + [m.eigenvectors.shape[1] for m in self.members])
        # |p|^2 of every reference point, once: the original's 1-NN keeps every training face
        self._norms = [(m.projections ** 2).sum(1) for m in self.members]

    @property
    def n_models(self) -> int:
        return len(self.members)

    def member_votes(self, X) -> tuple:
        """(n, N) label indices and distances of every member's nearest reference point."""
        Z = X @ self._W - self._offset
        votes = np.empty((len(X), len(self.members)), dtype=np.int32)
        dists = np.empty(votes.shape)
        for j, m in enumerate(self.members):
            z = Z[:, self._slices[j]:self._slices[j + 1]]
            d2 = (z * z).sum(1)[:, None] - 2.0 * z @ m.projections.T + self._norms[j][None, :]
            nearest = np.argmin(d2, axis=1)
            votes[:, j] = m.labels[nearest]
            dists[:, j] = np.sqrt(np.maximum(d2[np.arange(len(X)), nearest], 0.0))
        return votes, dists

    def predict_vectors(self, X) -> list:
        return self.predict_members(X)[0]

    def predict_members(self, X) -> tuple:
        votes, dists = self.member_votes(np.asarray(X, dtype=np.float64))
        return self.decide(votes, dists), votes

    def decide(self, votes, dists) -> list:
        """One Prediction per row of member votes and distances (from ``member_votes``)."""
        return [self._vote(v, d) for v, d in zip(votes, dists)]

    def _vote(self, votes, dists):
        counts = np.bincount(votes, minlength=len(self.labels))
        tied = np.flatnonzero(counts == counts.max())
        winner = min(tied, key=lambda c: (dists[votes == c].mean(), c))
        counts = tuple(int(c) for c in counts)
        return Prediction(self.labels[winner], counts[winner] / len(self.members), counts,
                          votes=counts)

    def save(self, model_dir, manifest) -> None:
        os.makedirs(model_dir, exist_ok=True)
        files = []
        for j, member in enumerate(self.members):
            name = f'fisherface_{j:02d}.yml'
            member.write(os.path.join(model_dir, name))
            files.append(name)
        self.save_manifest(model_dir, manifest, files)

    @classmethod
    def from_manifest(cls, model_dir, manifest) -> 'FisherfaceEnsemble':
        members = [FisherfaceModel.read(os.path.join(model_dir, e['file']))
                   for e in manifest['files']]
        n_labels = len(manifest['labels'])
        dim = manifest['preprocessing'].dimension
        for entry, m in zip(manifest['files'], members):
            if m.mean.size != dim:
                raise ValueError(f'{model_dir}/{entry["file"]}: input size {m.mean.size} '
                                 f'does not match the manifest preprocessing ({dim})')
            if m.labels.min() < 0 or m.labels.max() >= n_labels:
                raise ValueError(f'{model_dir}/{entry["file"]}: '
                                 'class index outside the manifest labels')
        n_models = manifest.get('ensemble', {}).get('n_models', len(members))
        if n_models != len(members):
            raise ValueError(f'{model_dir}: manifest says {n_models} models, '
                             f'lists {len(members)} files')
        return cls(manifest['labels'], members, manifest['preprocessing'], manifest)


def train_ensemble(X, y, labels, preprocessing, n_models=10, fraction=0.8, seed=0,
                   decision='centroid-prior', pca_components=0) -> FisherfaceEnsemble:
    """Train N members, member i on ``numpy.random.default_rng([seed, i])``'s pick of rows."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f'fraction must be in (0, 1], got {fraction}')
    if n_models < 1:
        raise ValueError(f'models must be >= 1, got {n_models}')
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int32)
    size = max(2, round(fraction * len(y)))
    members = []
    for i in range(n_models):
        rows = np.sort(np.random.default_rng([seed, i]).choice(len(y), size, replace=False))
        members.append(train_fisherface(X[rows], y[rows], decision=decision,
                                        pca_components=pca_components))
    return FisherfaceEnsemble(labels, members, preprocessing)
