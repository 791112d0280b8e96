"""The mirror's two halves without ROS: smoothing scripted sequences, and faces that differ per expression."""

import itertools

import numpy as np
import pytest

from expression_recognizer_ros.core.face_rendering import FACES, render_face
from expression_recognizer_ros.core.labels import NEUTRAL
from expression_recognizer_ros.core.smoothing import ExpressionSmoother


def play(smoother, sequence, dt=1 / 15):
    """Feed (expression or None, confidence) at 15 fps; return what was shown after each."""
    return [smoother.update(e, c, i * dt) for i, (e, c) in enumerate(sequence)]


def test_single_frame_noise_never_shows():
    sequence = [('happy', 0.8)] * 10 + [('angry', 0.9)] + [('happy', 0.8)] * 5 + [('sad', 0.6), ('happy', 0.7)] * 4
    shown = play(ExpressionSmoother(), sequence)
    assert set(shown) == {NEUTRAL, 'happy'}
    assert shown[:2] == [NEUTRAL, NEUTRAL] and shown[2] == 'happy'   # shown after `hold` = 3 agreeing faces


def test_a_real_change_shows_after_it_holds():
    shown = play(ExpressionSmoother(), [('happy', 0.8)] * 8 + [('surprised', 0.8)] * 8)
    change = shown.index('surprised')
    assert 8 + 3 <= change <= 8 + 6   # needs the window's lead, then `hold` faces
    assert shown[-1] == 'surprised'


def test_confident_frames_outweigh_unsure_ones():
    shown = play(ExpressionSmoother(window=5, hold=1), [('sad', 0.2), ('sad', 0.2), ('happy', 0.9)])
    assert shown[-1] == 'happy'   # 0.9 > 0.4: confidence, not frame count, leads


def test_relaxes_to_neutral_after_the_timeout_without_faces():
    smoother = ExpressionSmoother(relax_after=2.0)
    play(smoother, [('happy', 0.9)] * 5)
    assert smoother.update(None, 0.0, 1.0) == 'happy'      # a short gap keeps the face
    assert smoother.tick(1.9) == 'happy'
    assert smoother.tick(2.4) == NEUTRAL                   # 2 s after the last face (at 0.27 s)
    assert smoother.update('sad', 0.9, 3.0) == NEUTRAL     # and it starts over: one frame is not enough


@pytest.mark.parametrize('bad', [dict(window=0), dict(hold=0), dict(relax_after=-1)])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        ExpressionSmoother(**bad)


def test_every_expression_renders_a_measurably_different_face():
    faces = {e: render_face(e).astype(np.int16) for e in FACES}
    for a, b in itertools.combinations(faces, 2):
        changed = (np.abs(faces[a] - faces[b]).max(axis=2) > 40).mean()
        assert changed > 0.002, f'{a} and {b} differ in only {changed:.2%} of the pixels'
    assert (render_face('no such expression') == render_face(NEUTRAL)).all()


def test_the_smile_curves_up_and_the_frown_down():
    def mouth_corner_rise(expression):
        ink = (render_face(expression)[150:210].max(axis=2) < 90)   # dark strokes in the mouth band
        rows = [np.flatnonzero(ink[:, x]) for x in (125, 160)]      # near the left corner, and the middle
        return rows[1].mean() - rows[0].mean()                      # > 0: corner above the middle
    assert mouth_corner_rise('happy') > 3 > -3 > mouth_corner_rise('sad')


def test_size_is_honoured():
    assert render_face('happy', 640, 480).shape == (480, 640, 3)
