"""The ROS4HRI bridge: the documented valence/arousal mapping, publishers that follow the IDs (real
rclpy, real hri_msgs from ../shared/ros2-extras), and the one-line notice without hri_msgs."""

import os
import subprocess

from conftest import LIB, PARAMS, spin_until
import numpy as np
import pytest

from expression_recognizer_ros.core.affect import CIRCUMPLEX, valence_arousal
from expression_recognizer_ros.core.pipeline import FaceResult, FrameResult
from expression_recognizer_ros.ros.hri_bridge import HriBridge

hri_msgs = pytest.importorskip('hri_msgs.msg', reason='hri_msgs missing: make test builds it')
LABELS = ('angry', 'disgusted', 'scared', 'happy', 'sad', 'surprised', 'neutral')


def test_valence_and_arousal_are_the_expectation_over_the_circumplex_table():
    """The README's table and example: what a consumer of /expression can rely on."""
    assert valence_arousal(LABELS, [0, 0, 0, 1, 0, 0, 0]) == CIRCUMPLEX['happy']
    valence, arousal = valence_arousal(LABELS, [0, 0, 0, 0.6, 0, 0, 0.4])
    assert (round(valence, 6), round(arousal, 6)) == (0.48, 0.24)     # the module text's example
    valence, arousal = valence_arousal(LABELS, [0, 0, 0, 6, 4, 0, 0])  # votes work as well
    assert valence == pytest.approx(0.6 * 0.8 - 0.4 * 0.7) and arousal == pytest.approx(0.08)
    assert valence_arousal(LABELS, [0] * 7) == (0.0, 0.0)
    assert all(-1 <= v <= 1 and -1 <= a <= 1 for v, a in CIRCUMPLEX.values())


def face(face_id, label='happy', box=(10, 20, 100, 100)):
    """A tracked face certain of one label, as the pipeline would report it."""
    scores = tuple(1.0 if name == label else 0.0 for name in LABELS)
    return FaceResult(face_id, box, 0.9, label, 1.0, scores, crop=np.zeros((48, 48), np.uint8))


def test_per_face_publishers_come_and_go_with_the_ids(node):
    """REP-155: per-ID topics exist while the ID is tracked and go when it goes."""
    from std_msgs.msg import Header
    bridge = HriBridge(node, LABELS, prefix='hri_test/humans/faces')
    expressions, tracked = [], []
    node.create_subscription(hri_msgs.Expression, 'hri_test/humans/faces/abcde/expression',
                             expressions.append, 10)
    node.create_subscription(hri_msgs.IdsList, 'hri_test/humans/faces/tracked', tracked.append, 10)
    frame = np.zeros((480, 640, 3), np.uint8)
    header = Header(frame_id='camera')
    both = FrameResult((face('abcde'), face('fghij', 'sad', (300, 20, 80, 80))), None, 'yunet',
                       None, (640, 480))

    def topics():
        return {name for name, _ in node.get_topic_names_and_types()}
    assert spin_until(node, lambda: bridge.publish(header, frame, both) or
                      (expressions and tracked and len(tracked[-1].ids) == 2))
    assert expressions[-1].expression == 'happy' and expressions[-1].header.frame_id == 'camera'
    assert (expressions[-1].valence, expressions[-1].arousal) == pytest.approx(CIRCUMPLEX['happy'])
    assert '/hri_test/humans/faces/fghij/cropped' in topics()
    one = FrameResult((face('abcde'),), None, 'yunet', None, (640, 480))
    bridge.publish(header, frame, one)
    assert set(bridge.faces) == {'abcde'}
    assert spin_until(node, lambda: '/hri_test/humans/faces/fghij/expression' not in topics(), 10)
    bridge.destroy()


def test_without_hri_msgs_the_bridge_is_off_with_one_line():
    """The node on a Python path without ../shared/ros2-extras: it runs, and says so once."""
    path = os.pathsep.join(p for p in os.environ['PYTHONPATH'].split(os.pathsep)
                           if 'ros2-extras' not in p)
    env = dict(os.environ, PYTHONPATH=path)
    command = [os.path.join(LIB, 'recognizer_node'), '--ros-args', '--params-file', PARAMS,
               '-r', '__ns:=/nohri']
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if 'listening on' in line:
                break
    finally:
        process.terminate()
        lines += process.communicate(timeout=10)[0].splitlines(keepends=True)
    log = ''.join(lines)
    notices = [line for line in lines if 'ROS4HRI topics off: hri_msgs is not installed' in line]
    assert len(notices) == 1 and 'Traceback' not in log, log
    assert 'ROS4HRI' not in log.split('listening on')[1].split('\n')[0]
