"""
Turning a noisy stream of per-frame expressions into a steady one for a robot face to show.

A robot face that twitches on every misclassified frame looks broken. ``ExpressionSmoother`` shows
an expression once it has led a confidence-weighted vote over the faces of the last ``window``
seconds for ``hold`` seconds, and relaxes to neutral once no face has been seen for
``relax_after`` seconds. Everything is in seconds, so the robot is as calm at 30 frames per second
as at 5 (counting messages made it twitchier the faster the recognizer ran). ``restart()`` forgets
the vote, for when the robot starts following another person.
"""

from collections import deque

from .labels import NEUTRAL


class ExpressionSmoother:
    """
    window: seconds of faces in the vote; hold: seconds an expression must lead before it is
    shown; relax_after: seconds without a face before the rest expression.
    """

    def __init__(self, window=1.0, hold=0.5, relax_after=2.0, rest=NEUTRAL):
        if not window > 0 or hold < 0 or relax_after < 0:
            raise ValueError(f'need window > 0, hold >= 0, relax_after >= 0 (seconds); got '
                             f'{window}, {hold}, {relax_after}')
        self.window, self.hold, self.relax_after, self.rest = window, hold, relax_after, rest
        self.shown = rest
        self._recent = deque()       # (time, expression, confidence) of the faces in the window
        self._leader, self._since = None, None
        self._last_face = None

    def restart(self) -> None:
        """
        Forget the vote (another person is followed now); what is shown stays until the new
        person's expression has held, or the face relaxes.
        """
        self._recent.clear()
        self._leader, self._since = None, None

    def update(self, expression, confidence, now) -> str:
        """
        One frame's result (expression None or '' when no face); returns the expression to
        show.
        """
        if expression:
            self._last_face = now
            self._recent.append((now, expression, max(float(confidence), 1e-6)))
            while self._recent and self._recent[0][0] <= now - self.window:
                self._recent.popleft()
            weights = {}
            for _, label, weight in self._recent:
                weights[label] = weights.get(label, 0.0) + weight
            leader = max(weights, key=weights.get)
            if leader != self._leader:
                self._leader, self._since = leader, now
            if now - self._since >= self.hold:
                self.shown = leader
        return self.tick(now)

    def idle(self, now) -> bool:
        """True when no face has been seen for ``relax_after`` seconds (or ever)."""
        return self._last_face is None or now - self._last_face >= self.relax_after

    def tick(self, now) -> str:
        """Relax to the rest expression when no face has been seen for ``relax_after`` seconds."""
        if self.idle(now):
            self.shown = self.rest
            self.restart()
        return self.shown
