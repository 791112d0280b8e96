"""FaceTracker, ScoreSmoother and AttendedSelector on synthetic boxes (issue 12)."""

from dataclasses import dataclass
import re

import numpy as np
import pytest

from expression_recognizer_ros.core.tracking import (
    AttendedSelector,
    FaceTracker,
    ScoreSmoother,
    TrackingConfig,
)


@dataclass
class Box:
    box: tuple


def faces(*boxes):
    return [Box(b) for b in boxes]


def test_a_track_is_confirmed_after_three_frames_and_ids_are_short_strings():
    tracker = FaceTracker(seed=1)
    seen = [tracker.update(faces((100 + 3 * i, 100, 80, 80)), i / 15) for i in range(4)]
    assert [len(s) for s in seen] == [0, 0, 1, 1]
    track_id = seen[2][0].id
    assert re.fullmatch('[a-z]{5}', track_id)
    assert seen[3][0].id == track_id


def test_a_single_false_detection_never_becomes_a_track():
    tracker = FaceTracker()
    for i in range(10):
        tracked = tracker.update(faces((100, 100, 80, 80))
                                 + (faces((400, 300, 60, 60)) if i % 2 else []), i / 15)
    assert len(tracked) == 1


def test_short_misses_keep_the_id_long_ones_end_it():
    tracker = FaceTracker(TrackingConfig(max_missed=8))
    for i in range(5):
        tracked = tracker.update(faces((200 + 4 * i, 150, 90, 90)), i / 15)
    first = tracked[0].id
    for i in range(5, 13):                             # 8 frames without the face
        still = tracker.update([], i / 15)
        assert [t.id for t in still] == [first] and not still[0].visible
    # It moved on meanwhile (velocity prediction).
    for i in range(13, 16):
        assert tracker.update(faces((200 + 4 * i, 150, 90, 90)), i / 15)[0].id == first
    for i in range(16, 26):
        tracker.update([], i / 15)
    assert tracker.update([], 26 / 15) == []
    again = [tracker.update(faces((200, 150, 90, 90)), (27 + i) / 15) for i in range(3)][-1]
    assert again[0].id != first                         # a new person (IDs are never reused)


def test_two_faces_crossing_keep_their_ids():
    tracker = FaceTracker()
    ids = set()
    for i in range(60):    # they overlap most at i = 30
        a, b = (20 + 9 * i, 100, 100, 100), (560 - 9 * i, 130, 100, 100)
        tracked = tracker.update(faces(a, b), i / 15)
        ids |= {(t.id, t.box[1]) for t in tracked}
    # Two IDs in all, each always on the same face (y 100 or 130).
    assert len(ids) == 2


def test_smoothing_follows_seconds_not_frames():
    """A step from class 0 to class 1: after 0.5 s (one time constant) 63% of the way at 5, 15 or
    30 fps."""
    for fps in (4, 10, 30):
        smoother = ScoreSmoother(time_constant=0.5)
        smoother.update([1.0, 0.0], 0.0)
        n = int(0.5 * fps)
        for k in range(1, n + 1):
            value = smoother.update([0.0, 1.0], k / fps)
        assert value[1] == pytest.approx(1 - np.exp(-1), abs=1e-9), fps
    assert np.allclose(ScoreSmoother(0.0).update([0.2, 0.8], 1.0), [0.2, 0.8])


def test_each_track_smooths_its_own_scores():
    tracker = FaceTracker(TrackingConfig(time_constant=1.0))
    for i in range(3):
        tracked = tracker.update(faces((10, 10, 100, 100), (300, 10, 80, 80)), i / 10)
    a, b = tracked
    a.smooth([1, 0], 0.0)
    b.smooth([0, 1], 0.0)
    assert np.allclose(a.smoothed, [1, 0]) and np.allclose(b.smoothed, [0, 1])


class T:
    def __init__(self, id, box):
        self.id, self.box = id, box

    @property
    def size(self):
        return (self.box[2] * self.box[3]) ** 0.5


def test_attended_largest_changes_only_beyond_the_margin():
    selector = AttendedSelector('largest', margin=0.2)
    frame = (640, 480)
    assert selector.select([T('a', (0, 0, 100, 100)), T('b', (300, 0, 90, 90))], frame) == 'a'
    # b is 19% larger
    assert selector.select([T('a', (0, 0, 100, 100)), T('b', (300, 0, 119, 119))], frame) == 'a'
    # b is 21% larger
    assert selector.select([T('a', (0, 0, 100, 100)), T('b', (300, 0, 121, 121))], frame) == 'b'
    # a back, 16% larger
    assert selector.select([T('a', (0, 0, 140, 140)), T('b', (300, 0, 121, 121))], frame) == 'b'
    # b left
    assert selector.select([T('a', (0, 0, 140, 140))], frame) == 'a'
    assert selector.select([], frame) is None


def test_attended_centre_changes_only_beyond_the_margin():
    selector = AttendedSelector('centre', margin=0.1)        # 0.1 x 400 px half-diagonal = 40 px
    frame = (640, 480)
    near = lambda id, dx: T(id, (320 + dx - 50, 240 - 50, 100, 100))  # noqa: E731 centre dx px right of the middle
    assert selector.select([near('a', 60), near('b', 150)], frame) == 'a'
    assert selector.select([near('a', 60), near('b', 25)], frame) == 'a'     # 35 px nearer
    assert selector.select([near('a', 60), near('b', 15)], frame) == 'b'     # 45 px nearer
    with pytest.raises(ValueError):
        AttendedSelector('loudest')
