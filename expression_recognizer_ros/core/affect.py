"""
Valence and arousal of a face's class scores: one table for the ROS4HRI bridge and the ``bag``
command's CSV.

They are the class probabilities' expectation over ``CIRCUMPLEX``: each basic expression's
approximate place in Russell's circumplex model of affect (J. Russell, "A circumplex model of
affect", 1980), rounded to one decimal, close to the mean valence/arousal that AffectNet's
annotators gave each category. So a face 60% happy and 40% neutral has valence 0.6 x 0.8 = 0.48
and arousal 0.6 x 0.4 = 0.24; an uncertain face stays near the centre.
"""

import functools

import numpy as np

# label: (valence, arousal), each in [-1, 1]
CIRCUMPLEX = {
    'neutral': (0.0, 0.0),
    'happy': (0.8, 0.4),
    'surprised': (0.2, 0.8),
    'scared': (-0.6, 0.7),
    'angry': (-0.6, 0.6),
    'disgusted': (-0.7, 0.3),
    'sad': (-0.7, -0.4),
    'contempt': (-0.5, 0.2),
}


@functools.lru_cache(maxsize=8)
def circumplex(labels) -> np.ndarray:
    """(n, 2) valence/arousal per label of a model, ``labels`` a tuple (unknown: the centre)."""
    return np.array([CIRCUMPLEX.get(label, (0.0, 0.0)) for label in labels])


def valence_arousal(labels, scores) -> tuple:
    """
    Expected (valence, arousal) of the class scores over ``CIRCUMPLEX`` (unknown labels count as
    the centre); scores are normalised first, so vote shares and probabilities both work.
    """
    p = np.clip(np.asarray(scores, np.float64), 0.0, None)
    total = p.sum()
    if total <= 0:
        return 0.0, 0.0
    valence, arousal = (p / total) @ circumplex(tuple(labels))
    return float(valence), float(arousal)
