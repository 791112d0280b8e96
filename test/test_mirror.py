"""The mirror's two halves without ROS: smoothing scripted sequences in seconds, and faces that
differ per expression."""

import itertools

import numpy as np
import pytest

from expression_recognizer_ros.core.labels import NEUTRAL
from expression_recognizer_ros.core.mirror_face import FACES, render_face
from expression_recognizer_ros.core.mirror_smoothing import ExpressionSmoother


def play(smoother, sequence, fps=15.0):
    """Feed (expression or None, confidence) at ``fps``; return what was shown after each."""
    return [smoother.update(e, c, i / fps) for i, (e, c) in enumerate(sequence)]


def test_single_frame_noise_never_shows():
    sequence = [('happy', 0.8)] * 10 + [('angry', 0.9)] + [('happy', 0.8)] * 5 \
        + [('sad', 0.6), ('happy', 0.7)] * 4
    shown = play(ExpressionSmoother(), sequence)
    assert set(shown) == {NEUTRAL, 'happy'}
    # hold = 0.5 s: at 15 fps shown from the frame at 0.53 s (the 9th), not before
    assert shown[:8] == [NEUTRAL] * 8 and shown[8] == 'happy'


@pytest.mark.parametrize('fps', [5.0, 15.0, 30.0])
def test_a_real_change_shows_after_the_same_time_at_any_frame_rate(fps):
    """hold and window are seconds: the change shows after 0.5-1.0 s whatever the frame rate (it
    counted messages before, so a faster recognizer made a twitchier robot)."""
    n = int(2 * fps)
    sequence = [('happy', 0.8)] * n + [('surprised', 0.8)] * n
    shown = play(ExpressionSmoother(window=1.0, hold=0.5), sequence,
                 fps)
    delay = (shown.index('surprised') - n) / fps
    assert 0.5 <= delay <= 1.0 + 1 / fps, delay
    assert shown[-1] == 'surprised'


def test_twitching_faster_than_hold_never_shows():
    """A calmly talking person at 30 fps whose frames flip happy/neutral every 0.2 s: the robot
    shows one of them and stays there, never switching every few frames."""
    sequence = [('happy' if (i // 6) % 2 else 'neutral', 0.8) for i in range(240)]
    shown = play(ExpressionSmoother(), sequence, fps=30.0)
    switches = sum(a != b for a, b in zip(shown, shown[1:]))
    assert switches <= 1, switches


def test_confident_frames_outweigh_unsure_ones():
    sequence = [('sad', 0.2), ('sad', 0.2), ('happy', 0.9)]
    shown = play(ExpressionSmoother(window=1.0, hold=0.0), sequence)
    assert shown[-1] == 'happy'   # 0.9 > 0.4: confidence, not frame count, leads


def test_restart_forgets_the_vote_but_keeps_the_face_until_the_new_one_holds():
    smoother = ExpressionSmoother(window=1.0, hold=0.5)
    play(smoother, [('happy', 0.9)] * 15)
    assert smoother.shown == 'happy'
    smoother.restart()   # another person
    assert smoother.update('sad', 0.3, 1.0) == 'happy'
    assert smoother.update('sad', 0.3, 1.3) == 'happy'
    assert smoother.update('sad', 0.3, 1.55) == 'sad'   # the old person's happy votes are gone


def test_relaxes_to_neutral_after_the_timeout_without_faces():
    smoother = ExpressionSmoother(relax_after=2.0)
    play(smoother, [('happy', 0.9)] * 10)
    assert smoother.update(None, 0.0, 1.0) == 'happy'      # a short gap keeps the face
    assert smoother.tick(2.5) == 'happy' and not smoother.idle(2.5)
    assert smoother.tick(2.7) == NEUTRAL                   # 2 s after the last face (at 0.6 s)
    assert smoother.idle(2.7)
    # and it starts over: one frame is not enough
    assert smoother.update('sad', 0.9, 3.0) == NEUTRAL


@pytest.mark.parametrize('bad', [dict(window=0), dict(hold=-0.1), dict(relax_after=-1)])
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
        # dark strokes in the mouth band
        ink = (render_face(expression)[150:210].max(axis=2) < 90)
        # near the left corner, and the middle
        rows = [np.flatnonzero(ink[:, x]) for x in (125, 160)]
        # > 0: corner above the middle
        return rows[1].mean() - rows[0].mean()
    assert mouth_corner_rise('happy') > 3 > -3 > mouth_corner_rise('sad')


def test_size_is_honoured():
    assert render_face('happy', 640, 480).shape == (480, 640, 3)
