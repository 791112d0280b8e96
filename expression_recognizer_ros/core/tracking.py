"""
Stable face IDs across frames, per-face smoothing of class scores in time, and the attended face.

``FaceTracker.update(faces, now)`` takes one frame's detections (any objects with ``box`` = (x, y,
w, h), e.g. ``faces.Face``) and returns the confirmed tracks in view. Association: each
track predicts its box with its velocity; detection/track pairs are matched greedily, best overlap
(IoU) first, then for the rest by centre distance relative to the face size (fast moves, small
faces). As in ROS4HRI's face detector, a track is *confirmed* (gets its ID published) after
``confirm_after`` consecutive frames with a detection and is kept through ``max_missed`` frames
without one. IDs are short random lowercase strings (REP-155 uses such IDs in topic names): five
letters, never reused by one tracker.

``ScoreSmoother``: exponential smoothing of a score vector with a time constant in seconds, so the
same motion of the face gives the same smoothing at 5 or 30 frames per second.

``AttendedSelector``: one face among the tracks (``largest`` or ``centre``), with hysteresis: the
attended face stays attended while it is in view unless another face is larger by more than
``margin`` (20%: side of the box, i.e. the square root of its area) or, for ``centre``, nearer the
image centre by more than ``margin`` x the frame's half-diagonal.
"""

from dataclasses import dataclass, field
import math
import random
import string

import numpy as np

from .boxes import box_center, box_size, iou

SELECT_MODES = ('largest', 'centre')
ID_LENGTH = 5


@dataclass(frozen=True)
class TrackingConfig:
    """
    Face tracks (``FaceTracker``) and the attended face (``AttendedSelector``): one place for
    their defaults.
    """

    confirm_after: int = 3
    max_missed: int = 8
    iou_threshold: float = 0.3
    max_distance: float = 0.5
    time_constant: float = 0.5    # seconds, per-face smoothing of the class scores
    attend: str = 'largest'       # or 'centre'
    attend_margin: float = 0.2    # hysteresis: a challenger must beat the attended one by this

    def validate(self) -> 'TrackingConfig':
        """Raise ValueError naming the first bad value."""
        if self.attend not in SELECT_MODES:
            raise ValueError(f'attend must be one of {SELECT_MODES}, got {self.attend!r}')
        if self.confirm_after < 1 or self.max_missed < 0:
            raise ValueError('confirm_after must be >= 1 and max_missed >= 0, got '
                             f'{self.confirm_after} and {self.max_missed}')
        if not 0.0 < self.iou_threshold <= 1.0:
            raise ValueError(f'iou_threshold must be in (0, 1], got {self.iou_threshold}')
        if self.max_distance < 0 or self.time_constant < 0 or self.attend_margin < 0:
            raise ValueError('max_distance, time_constant and attend_margin must be >= 0')
        return self


# Unrelated images (and the Haar path): every frame's answer stands alone.
STILL_IMAGE_TRACKING = TrackingConfig(confirm_after=1, max_missed=0, time_constant=0.0)


class ScoreSmoother:
    """
    Exponential moving average of a score vector in time: after ``time_constant`` seconds a new
    steady input has moved the output 63% of the way (1 - 1/e), whatever the frame rate.
    """

    def __init__(self, time_constant=0.5):
        if time_constant < 0:
            raise ValueError(f'time_constant must be >= 0, got {time_constant}')
        self.time_constant = float(time_constant)
        self.value = None
        self.stamp = None

    def update(self, scores, now) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float64)
        if self.value is None or self.value.shape != scores.shape or self.time_constant == 0:
            self.value = scores.copy()
        else:
            dt = max(0.0, float(now) - float(self.stamp))
            alpha = 1.0 - math.exp(-dt / self.time_constant)
            self.value = self.value + alpha * (scores - self.value)
        self.stamp = float(now)
        return self.value


@dataclass
class Track:
    """
    One face followed across frames. ``box`` is the last detection's (or the prediction while
    missed); ``face`` the last detection object; ``hits`` consecutive frames with a detection until
    confirmed; ``missed`` frames since the last detection; ``smoother`` the per-face class-score
    smoothing.
    """

    id: str
    box: tuple
    face: object
    last_seen: float
    hits: int = 1
    missed: int = 0
    confirmed: bool = False
    velocity: tuple = (0.0, 0.0)
    smoother: ScoreSmoother = field(default=None, repr=False)

    @property
    def visible(self) -> bool:
        """Detected in the latest frame."""
        return self.missed == 0

    @property
    def size(self) -> float:
        return box_size(self.box)

    def predicted_box(self) -> tuple:
        x, y, w, h = self.box
        steps = self.missed + 1
        return (x + self.velocity[0] * steps, y + self.velocity[1] * steps, w, h)

    def smooth(self, scores, now) -> np.ndarray:
        """Feed this frame's class scores; returns the time-smoothed vector."""
        return self.smoother.update(scores, now)

    @property
    def smoothed(self) -> np.ndarray | None:
        return None if self.smoother is None else self.smoother.value


class FaceTracker:
    """
    Tracks under a ``TrackingConfig``: iou_threshold, least IoU (against the predicted box) for an
    overlap match; max_distance, else the largest centre distance, in face sizes, for a match;
    confirm_after, consecutive detections before a track is confirmed; max_missed, frames a track
    survives without a detection; time_constant, seconds, for each track's ScoreSmoother. ``seed``
    makes the IDs reproducible.
    """

    def __init__(self, config: TrackingConfig = TrackingConfig(), seed=None):
        self.config = config.validate()
        self._random = random.Random(seed)
        self._used = set()
        self.tracks = []       # every live track, confirmed or not

    def reset(self) -> None:
        """Forget every track (IDs stay unused): the next frame is unrelated to the last."""
        self.tracks = []

    def _new_id(self):
        while True:
            candidate = ''.join(self._random.choice(string.ascii_lowercase)
                                for _ in range(ID_LENGTH))
            if candidate not in self._used:
                self._used.add(candidate)
                return candidate

    def _match(self, faces):
        """
        Greedy assignment: (track index, face index) pairs, best IoU first, then nearest
        centres.
        """
        predicted = [t.predicted_box() for t in self.tracks]
        pairs = []
        free_t, free_f = set(range(len(self.tracks))), set(range(len(faces)))
        overlaps = sorted(((iou(p, f.box), ti, fi)
                           for ti, p in enumerate(predicted) for fi, f in enumerate(faces)),
                          reverse=True)
        for value, ti, fi in overlaps:
            if value < self.config.iou_threshold:
                break
            if ti in free_t and fi in free_f:
                pairs.append((ti, fi))
                free_t.discard(ti)
                free_f.discard(fi)
        distances = []
        for ti in free_t:
            pc, ps = box_center(predicted[ti]), box_size(predicted[ti])
            for fi in free_f:
                fc, fs = box_center(faces[fi].box), box_size(faces[fi].box)
                if not 0.5 <= fs / max(ps, 1e-6) <= 2.0:
                    continue
                d = math.hypot(pc[0] - fc[0], pc[1] - fc[1]) / max(ps, fs, 1e-6)
                if d <= self.config.max_distance:
                    distances.append((d, ti, fi))
        for _, ti, fi in sorted(distances):
            if ti in free_t and fi in free_f:
                pairs.append((ti, fi))
                free_t.discard(ti)
                free_f.discard(fi)
        return pairs, free_f

    def update(self, faces, now) -> list:
        """
        One frame's detections at time ``now`` (seconds); returns the confirmed tracks, visible or
        within their short miss, largest first.
        """
        faces = list(faces)
        pairs, unmatched = self._match(faces)
        matched_tracks = set()
        for ti, fi in pairs:
            track, face = self.tracks[ti], faces[fi]
            old_c, new_c = box_center(track.box), box_center(face.box)
            steps = track.missed + 1
            v = ((new_c[0] - old_c[0]) / steps, (new_c[1] - old_c[1]) / steps)
            track.velocity = (0.5 * track.velocity[0] + 0.5 * v[0],
                              0.5 * track.velocity[1] + 0.5 * v[1])
            track.box, track.face, track.last_seen = (tuple(float(v) for v in face.box), face,
                                                      float(now))
            track.hits = track.hits + 1 if track.missed == 0 else 1
            track.missed = 0
            if track.hits >= self.config.confirm_after:
                track.confirmed = True
            matched_tracks.add(ti)
        survivors = []
        for ti, track in enumerate(self.tracks):
            if ti not in matched_tracks:
                track.missed += 1
                track.hits = 0
                if track.missed > self.config.max_missed or not track.confirmed:
                    continue      # an unconfirmed track dies at its first miss
            survivors.append(track)
        for fi in sorted(unmatched):
            face = faces[fi]
            track = Track(self._new_id(), tuple(float(v) for v in face.box), face, float(now),
                          smoother=ScoreSmoother(self.config.time_constant))
            track.confirmed = self.config.confirm_after <= 1
            survivors.append(track)
        self.tracks = survivors
        return self.confirmed()

    def confirmed(self) -> list:
        return sorted((t for t in self.tracks if t.confirmed), key=lambda t: -t.size)


class AttendedSelector:
    """
    The one face a single-face consumer (``/emotion``, the mirror) follows; see the module
    text.
    """

    def __init__(self, mode='largest', margin=0.2):
        if mode not in SELECT_MODES:
            raise ValueError(f'attended mode must be one of {SELECT_MODES}, got {mode!r}')
        if margin < 0:
            raise ValueError(f'margin must be >= 0, got {margin}')
        self.mode, self.margin = mode, float(margin)
        self.attended = None

    def reset(self) -> None:
        """Attend nobody until the next selection."""
        self.attended = None

    def _better(self, challenger, current, frame_size):
        """True when ``challenger`` beats ``current`` by the hysteresis margin."""
        if self.mode == 'largest':
            return challenger.size > (1.0 + self.margin) * current.size
        w, h = frame_size
        half_diagonal = 0.5 * math.hypot(w, h)
        return (self._distance(challenger, frame_size) + self.margin * half_diagonal
                < self._distance(current, frame_size))

    @staticmethod
    def _distance(track, frame_size) -> float:
        cx, cy = box_center(track.box)
        return math.hypot(cx - frame_size[0] / 2.0, cy - frame_size[1] / 2.0)

    def _rank(self, track, frame_size):
        return -track.size if self.mode == 'largest' else self._distance(track, frame_size)

    def select(self, tracks, frame_size) -> str | None:
        """
        The attended track's ID among ``tracks`` (confirmed tracks of this frame), or None when
        empty. frame_size: (width, height) in pixels.
        """
        tracks = list(tracks)
        if not tracks:
            self.attended = None
            return None
        current = next((t for t in tracks if t.id == self.attended), None)
        best = min(tracks, key=lambda t: self._rank(t, frame_size))
        if current is None or (best is not current and self._better(best, current, frame_size)):
            self.attended = best.id
        return self.attended
