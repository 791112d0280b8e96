"""Turning a noisy stream of per-frame expressions into a steady one for a robot face to show.

A robot face that twitches on every misclassified frame looks broken. ``ExpressionSmoother`` shows an
expression only once it has led a confidence-weighted vote over the last ``window`` faces for ``hold``
faces in a row, and relaxes to neutral once no face has been seen for ``relax_after`` seconds.
"""

from collections import deque

from .labels import NEUTRAL


class ExpressionSmoother:

    def __init__(self, window=5, hold=3, relax_after=2.0, rest=NEUTRAL):
        if window < 1 or hold < 1 or relax_after < 0:
            raise ValueError(f'need window >= 1, hold >= 1, relax_after >= 0; got {window}, {hold}, {relax_after}')
        self.hold, self.relax_after, self.rest = hold, relax_after, rest
        self.shown = rest
        self._recent = deque(maxlen=window)   # (expression, confidence) of the last faces
        self._leader, self._streak = None, 0
        self._last_face = None

    def update(self, expression, confidence, now):
        """One frame's result (expression None or '' when no face); returns the expression to show."""
        if expression:
            self._last_face = now
            self._recent.append((expression, max(float(confidence), 1e-6)))
            weights = {}
            for label, weight in self._recent:
                weights[label] = weights.get(label, 0.0) + weight
            leader = max(weights, key=weights.get)
            self._streak = self._streak + 1 if leader == self._leader else 1
            self._leader = leader
            if self._streak >= self.hold:
                self.shown = leader
        return self.tick(now)

    def tick(self, now):
        """Relax to the rest expression when no face has been seen for ``relax_after`` seconds."""
        if self._last_face is None or now - self._last_face >= self.relax_after:
            self.shown = self.rest
            self._recent.clear()
            self._leader, self._streak = None, 0
        return self.shown
