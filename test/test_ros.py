"""Real processes over real DDS: camera_node -> recognizer_node -> this test's subscriber."""

import ast
import os
import signal
import subprocess
import sys
import time

from conftest import call, LIB, PARAMS, PHOTOS, REPO, SHARE, spin_until, start, stop
import cv2
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
import numpy as np
import pytest
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters
import rclpy
from sensor_msgs.msg import Image

from expression_recognizer_ros.core.mirror_face import render_face
from expression_recognizer_ros.msg import Emotion, FaceExpressions
from expression_recognizer_ros.tools.synthetic import compose_frames


def test_emotion_crosses_processes(node):
    received = []
    node.create_subscription(Emotion, 'handshake', received.append, 10)
    code = ('import rclpy, time\nfrom expression_recognizer_ros.msg import Emotion\nrclpy.init()\n'
            'n = rclpy.create_node("sender"); p = n.create_publisher(Emotion, "handshake", 10)\n'
            'for _ in range(100):\n'
            '    p.publish(Emotion(face_detected=True, expression=Emotion.HAPPY, confidence=0.7, '
            'labels=["happy", "sad"], votes=[7, 3], num_models=10)); time.sleep(0.05)\n')
    sender = subprocess.Popen([sys.executable, '-P', '-c', code])
    try:
        assert spin_until(node, lambda: received)
    finally:
        sender.kill()
        sender.wait()
    msg = received[0]
    assert (msg.expression, list(msg.votes), msg.num_models) == ('happy', [7, 3], 10)
    assert abs(msg.confidence - 0.7) < 1e-6


@pytest.fixture(scope='module')
def frames_dir(tmp_path_factory):
    """Real photos, composed 640x480 frames with faces, and one frame with no face, in name
    order."""
    folder = tmp_path_factory.mktemp('frames')
    frames = compose_frames(count=6, every_nth_empty=0)
    frames.append(np.full((480, 640, 3), 127, np.uint8))
    for name in ('astronaut.png', 'grace_hopper_512x512.jpg'):
        frames.append(cv2.imread(os.path.join(PHOTOS, name)))
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f'{i:02d}.png'), frame)
    return str(folder)


def test_camera_to_recognizer_to_subscriber(node, frames_dir):
    images, emotions = {}, []
    node.create_subscription(Image, 'image_raw', lambda m: images.setdefault(
        (m.header.stamp.sec, m.header.stamp.nanosec), m), 50)
    node.create_subscription(Emotion, 'emotion', emotions.append, 50)
    diagnostics = {}
    node.create_subscription(DiagnosticArray, '/diagnostics', lambda m: diagnostics.update(
        {s.name: s for s in m.status}), 10)
    # Unrelated pictures in a loop: the original's detector, which answers on every frame (YuNet's
    # tracks wait for three detections in a row of one face: test_launch_arguments' two_people).
    recognizer = start('recognizer_node', '--params-file', PARAMS, '-r', 'image:=image_raw',
                       '-p', 'detector:=haar_fallback')
    camera = start('camera_node', '--params-file', PARAMS, '-p', f'source:={frames_dir}',
                   '-p', 'frame_rate:=4.0')

    def settled():
        """Emotion stamps from one second (four frames) after our own first image: our subscription
        may match later than the recognizer's, and while Fast DDS completes the match in both
        directions it can receive one frame and miss the next two (seen here)."""
        if not images:
            return []
        first = min(images)
        stamps = [(e.header.stamp.sec, e.header.stamp.nanosec) for e in emotions]
        return [stamp for stamp in stamps if stamp >= (first[0] + 1, first[1])]
    try:
        assert spin_until(node, lambda: len(emotions) >= 18
                          and any(not e.face_detected for e in emotions)
                          and len(settled()) >= 5,
                          timeout=60), f'got {len(emotions)} Emotion messages'
    finally:
        log = stop(camera) + stop(recognizer)
    assert 'listening on /image_raw' in log
    with_face = [e for e in emotions if e.face_detected]
    without = [e for e in emotions if not e.face_detected]
    assert with_face and without
    for e in with_face:
        assert e.expression in e.labels and sum(e.votes) == e.num_models == 10
        assert abs(sum(e.scores) - 1) < 1e-5 and len(e.scores) == len(e.labels)
        assert e.face_roi.width > 40 and e.detector.startswith('haarcascade_frontalface')
        assert e.num_faces == 1 and len(e.face_id) == 5
        assert e.model == 'fisherface-fer2013'
    assert all(e.expression == Emotion.UNKNOWN and not e.votes and e.face_id == ''
               and e.num_faces == 0 for e in without)
    later = settled()
    missing = [stamp for stamp in later if stamp not in images]
    assert len(later) >= 5 and not missing, (f'Emotion stamps with no such image: {missing}; '
                                             f'images: {sorted(images)}')
    assert all(e.header.frame_id == 'camera' for e in emotions)
    status = diagnostics['recognizer: expression recognition']
    values = {v.key: v.value for v in status.values}
    assert status.level == DiagnosticStatus.OK, status.message
    assert int(values['frames processed']) > 0 and float(values['last latency (ms)']) > 0
    assert values['model'] == 'fisherface-fer2013' and values['input topic'] == '/image_raw'
    assert diagnostics['camera: camera'].level == DiagnosticStatus.OK


def test_every_face_on_emotion_faces_and_the_attended_one_on_emotion(node):
    """The default (YuNet) over DDS: two people in one frame, sent again with fresh stamps."""
    left = cv2.resize(cv2.imread(os.path.join(PHOTOS, 'grace_hopper_512x512.jpg')), (300, 300))
    right = cv2.resize(cv2.imread(os.path.join(PHOTOS, 'astronaut.png')), (220, 220))
    frame = np.full((480, 640, 3), 127, np.uint8)
    frame[90:390, 10:310], frame[130:350, 400:620] = left, right
    image = Image(encoding='bgr8', height=480, width=640, step=640 * 3, data=frame.tobytes())
    emotions, faces = [], []
    node.create_subscription(Emotion, 'mf/emotion', emotions.append, 50)
    node.create_subscription(FaceExpressions, 'mf/emotion/faces', faces.append, 50)
    publisher = node.create_publisher(Image, 'mf/image', 10)
    recognizer = start('recognizer_node', '--params-file', PARAMS, '-r', '__ns:=/mf')

    def feed():
        image.header.stamp = node.get_clock().now().to_msg()
        publisher.publish(image)
        rclpy.spin_once(node, timeout_sec=0.1)
        return any(e.face_detected for e in emotions) and len(faces) >= 5
    try:
        assert spin_until(node, feed), f'{len(emotions)} Emotion, {len(faces)} FaceExpressions'
    finally:
        log = stop(recognizer)
    assert 'detector yunet' in log and 'Traceback' not in log
    assert all(e.detector == 'yunet' for e in emotions)
    first = [e for e in emotions if not e.face_detected]   # before the tracks are confirmed
    assert all(e.num_faces == 0 and e.face_id == '' for e in first)
    reported = [e for e in emotions if e.face_detected]
    assert {e.num_faces for e in reported} == {2} and len({e.face_id for e in reported}) == 1
    attended = reported[-1]
    assert attended.face_roi.x_offset < 320 and attended.face_roi.width > 100   # Grace: the larger
    full = [f for f in faces if f.faces]
    assert full and all(len(f.faces) == 2 and f.attended_id == attended.face_id for f in full)
    last = full[-1]
    assert last.labels == attended.labels and last.faces[0].id == attended.face_id
    assert all(f.expression in last.labels and len(f.scores) == len(last.labels)
               for f in last.faces)
    assert last.faces[0].roi.width > last.faces[1].roi.width    # largest first


def set_parameter(node, name, value):
    kind = (ParameterType.PARAMETER_DOUBLE if isinstance(value, float)
            else ParameterType.PARAMETER_INTEGER)
    pv = ParameterValue(type=kind, double_value=value) if isinstance(value, float) else \
        ParameterValue(type=kind, integer_value=value)
    request = SetParameters.Request(parameters=[Parameter(name=name, value=pv)])
    return call(node, SetParameters, '/recognizer/set_parameters', request).results[0]


def test_runtime_parameters_take_effect_or_are_refused(node, tmp_path):
    """haar.* values, and their old names (deprecated) in a params file and set at run time."""
    yaml = tmp_path / 'params.yaml'
    yaml.write_text('recognizer:\n  ros__parameters:\n    min_neighbors: 7\n')
    emotions = []
    node.create_subscription(Emotion, 'rt/emotion', emotions.append, 50)
    recognizer = start('recognizer_node', '--params-file', PARAMS, '--params-file', str(yaml),
                       '-r', 'emotion:=rt/emotion', '-r', 'image:=rt/image',
                       '-p', 'detector:=haar_fallback')
    publisher = node.create_publisher(Image, 'rt/image', 10)
    face = cv2.imread(os.path.join(PHOTOS, 'grace_hopper_512x512.jpg'))
    image = Image(encoding='bgr8', height=face.shape[0], width=face.shape[1],
                  step=face.shape[1] * 3, data=face.tobytes())
    try:
        request = GetParameters.Request(names=['haar.min_neighbors', 'haar.scale_factor'])
        values = call(node, GetParameters, '/recognizer/get_parameters', request).values
        # the 2nd YAML's old name overrides the 1st's haar.min_neighbors
        assert (values[0].integer_value, values[1].double_value) == (7, 1.1)
        for name, value, reason in (('haar.scale_factor', 0.9, 'scale_factor must be > 1.0'),
                                    ('haar.min_size_ratio', 1.5,
                                     'min_size_ratio must be in [0, 1)'),
                                    ('haar.full_search_every', 0,
                                     'full_search_every must be >= 1'),
                                    ('min_neighbors', -2, 'min_neighbors must be >= 0')):
            refused = set_parameter(node, name, value)
            assert not refused.successful and reason in refused.reason, (name, refused.reason)
        # larger than the face: no face any more
        assert set_parameter(node, 'haar.min_size', 600).successful

        def send_until_answered():
            publisher.publish(image)
            rclpy.spin_once(node, timeout_sec=0.3)
            return emotions
        assert spin_until(node, send_until_answered)
        assert not emotions[-1].face_detected
        assert set_parameter(node, 'min_size', 30).successful    # the old name, at run time
        request = GetParameters.Request(names=['haar.min_size'])
        assert call(node, GetParameters, '/recognizer/get_parameters',
                    request).values[0].integer_value == 30
        emotions.clear()
        assert spin_until(node, lambda: send_until_answered() and emotions[-1].face_detected)
    finally:
        log = stop(recognizer)
    for old in ('min_neighbors', 'min_size'):
        assert f'parameter {old} is deprecated' in log and f'use haar.{old}' in log, log
    assert 'Traceback' not in log


def test_missing_camera_is_one_clear_error():
    result = subprocess.run([os.path.join(LIB, 'camera_node'), '--ros-args',
                             '-p', 'source:=/dev/video99'],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert 'cannot open video device /dev/video99' in result.stdout
    assert 'Traceback' not in result.stdout + result.stderr


def test_launch_file_matches_what_cmake_installs():
    """Without the launch tools (test_launch_*.py run it for real): the installed file names
    installed executables, and its launch arguments are the ones the README documents."""
    path = os.path.join(SHARE, 'launch', 'recognizer.launch.py')
    tree = ast.parse(open(path).read())
    executables = {n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call) and
                   getattr(n.func, 'id', '') == 'lifecycle_node'}
    assert executables == {'camera_node', 'recognizer_node', 'mirror_node'}
    for name in executables:
        assert os.access(os.path.join(LIB, name), os.X_OK)
    arguments = next([key.value for key in n.value.keys] for n in tree.body
                     if isinstance(n, ast.Assign)
                     and getattr(n.targets[0], 'id', '') == 'ARGUMENTS')
    readme = open(os.path.join(REPO, 'README.md')).read()
    documented = readme[readme.index('Launch arguments:'):].split('\n\n')[0]
    assert arguments and all(f'`{name}`' in documented for name in arguments), (arguments,
                                                                                 documented)
    assert os.path.isfile(PARAMS)
    assert os.path.isfile(os.path.join(SHARE, 'models', 'fisherface-fer2013', 'manifest.json'))


def test_every_parameter_is_described_in_the_yaml_with_its_default_and_in_the_readme(node):
    """Each node's parameters, declared in this process: a description, the shipped YAML states
    the code's default, the README's parameter table names it. autostart is the launch argument;
    use_sim_time and start_type_description_service are rclpy's."""
    import yaml

    from expression_recognizer_ros.ros.camera_node import CameraNode
    from expression_recognizer_ros.ros.mirror_node import MirrorNode
    from expression_recognizer_ros.ros.recognizer_node import RecognizerNode
    with open(PARAMS) as f:
        shipped = yaml.safe_load(f)
    readme = open(os.path.join(REPO, 'README.md')).read()
    table = readme[readme.index('## Parameters'):].split('\n\n')[0]
    for node_class, name in ((CameraNode, 'camera'), (RecognizerNode, 'recognizer'),
                             (MirrorNode, 'mirror')):
        instance = node_class()
        try:
            for parameter in instance.list_parameters([], 0).names:
                if parameter in ('autostart', 'use_sim_time', 'start_type_description_service'):
                    continue
                assert instance.describe_parameter(parameter).description, parameter
                value = shipped[name]['ros__parameters']
                for part in parameter.split('.'):
                    value = value.get(part, 'missing')
                assert value == instance.get_parameter(parameter).value, (name, parameter)
                short = f'`.{parameter.split(".")[-1]}`' if '.' in parameter else None
                assert f'`{parameter}`' in table or short in table, (name, parameter)
        finally:
            instance.destroy_node()


@pytest.mark.parametrize('signals', [(signal.SIGTERM,), (signal.SIGINT, signal.SIGINT)],
                         ids=['SIGTERM', 'SIGINT twice'])
def test_stopping_mid_frame_is_clean(node, signals):
    """SIGTERM, or Ctrl-C's SIGINT twice in quick succession (a terminal's and ros2 launch's),
    while the worker is busy with a frame: the node exits with status 0 and without a
    traceback."""
    face = cv2.imread(os.path.join(PHOTOS, 'astronaut.png'))
    image = Image(encoding='bgr8', height=face.shape[0], width=face.shape[1],
                  step=face.shape[1] * 3, data=face.tobytes())
    publisher = node.create_publisher(Image, 'busy/image', 10)
    emotions = []
    node.create_subscription(Emotion, 'busy/emotion', emotions.append, 10)
    for delay in (0.0, 0.01, 0.05):
        emotions.clear()
        recognizer = start('recognizer_node', '--params-file', PARAMS, '-r', 'image:=busy/image',
                           '-r', 'emotion:=busy/emotion')

        def feed():
            publisher.publish(image)
            rclpy.spin_once(node, timeout_sec=0.02)
            return len(emotions) >= 3
        assert spin_until(node, feed)
        for _ in range(5):
            publisher.publish(image)   # keep the worker busy while it is told to stop
        for signum in signals:
            recognizer.send_signal(signum)
            time.sleep(delay)
        log = recognizer.communicate(timeout=20)[0]
        assert 'Traceback' not in log and 'terminate called' not in log, log
        assert recognizer.returncode == 0, log


def test_mirror_node_shows_the_steady_expression_and_relaxes(node):
    """Scripted Emotion messages from this process; the mirror node's images and expression
    messages come back over DDS. It follows the attended ID: another person restarts the vote, so
    their expression shows only after it has held for `hold` seconds."""
    faces, expressions = [], []
    node.create_subscription(Image, 'mirror_test/robot_face/image', faces.append, 10)
    node.create_subscription(Emotion, 'mirror_test/robot_face/expression', expressions.append, 10)
    publisher = node.create_publisher(Emotion, 'mirror_test/emotion', 10)
    mirror = start('mirror_node', '--params-file', PARAMS, '-r', '__ns:=/mirror_test',
                   '-p', 'relax_after:=1.0', '-p', 'hold:=0.5')
    happy = Emotion(face_detected=True, face_id='aaaaa', expression=Emotion.HAPPY, confidence=0.8)
    sad = Emotion(face_detected=True, face_id='bbbbb', expression=Emotion.SAD, confidence=0.8)
    try:
        assert spin_until(node, lambda: faces and expressions)
        first = faces[-1]
        assert (first.encoding, first.height, first.width, first.step) == ('bgr8', 240, 320, 960)
        assert bytes(first.data) == render_face('neutral').tobytes()
        assert (expressions[-1].expression, expressions[-1].face_id) == ('neutral', '')

        def feed(msg):
            publisher.publish(msg)
            rclpy.spin_once(node, timeout_sec=0.05)
            return faces

        def shows(expression):
            return bytes(faces[-1].data) == render_face(expression).tobytes()
        started = time.monotonic()
        assert spin_until(node, lambda: shows('happy') if feed(happy) else False)
        assert time.monotonic() - started >= 0.5                   # held for `hold` seconds first
        assert spin_until(node, lambda: expressions[-1].expression == 'happy')
        assert expressions[-1].face_id == 'aaaaa' and expressions[-1].face_detected
        switched = time.monotonic()
        assert spin_until(node, lambda: shows('sad') if feed(sad) else False)
        assert time.monotonic() - switched >= 0.5    # the new person's vote starts from nothing
        assert spin_until(node, lambda: expressions[-1].face_id == 'bbbbb')
        assert spin_until(node, lambda: shows('neutral') if feed(Emotion()) else False)
        assert spin_until(node, lambda: expressions[-1].face_id == '' and
                          not expressions[-1].face_detected)
    finally:
        log = stop(mirror)
    assert 'mirroring /mirror_test/emotion on /mirror_test/robot_face/image' in log


def test_mirror_ignores_what_came_while_it_was_inactive(node):
    """Configured but not active, the mirror is not listening: a second of happy faces sent then
    does not show the moment it is activated (it did: the vote was fed while inactive)."""
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState
    expressions = []
    node.create_subscription(Emotion, 'idle_test/robot_face/expression', expressions.append, 10)
    publisher = node.create_publisher(Emotion, 'idle_test/emotion', 10)
    mirror = start('mirror_node', '--params-file', PARAMS, '-r', '__ns:=/idle_test',
                   '-p', 'autostart:=false', '-p', 'hold:=0.3', '-p', 'relax_after:=5.0')

    def change(transition):
        return call(node, ChangeState, '/idle_test/mirror/change_state',
                    ChangeState.Request(transition=Transition(id=transition))).success
    try:
        assert change(Transition.TRANSITION_CONFIGURE)
        happy = Emotion(face_detected=True, face_id='aaaaa', expression=Emotion.HAPPY,
                        confidence=0.9)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            publisher.publish(happy)
            rclpy.spin_once(node, timeout_sec=0.05)
        assert change(Transition.TRANSITION_ACTIVATE)
        assert spin_until(node, lambda: expressions)
        assert (expressions[0].expression, expressions[0].face_id) == ('neutral', '')
    finally:
        stop(mirror)


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM], ids=['SIGINT', 'SIGTERM'])
def test_stopping_while_starting_is_clean(signum):
    """A launch that ends while a node is still importing (seen: exit -2 and a KeyboardInterrupt
    traceback from the recognizer when a launch test finished early): status 0, no traceback."""
    for delay in (0.1, 0.25, 0.5):
        recognizer = start('recognizer_node')
        time.sleep(delay)
        recognizer.send_signal(signum)
        log = recognizer.communicate(timeout=30)[0]
        assert recognizer.returncode == 0 and 'Traceback' not in log, (delay, log)


def test_a_native_crash_says_where():
    """A node killed by SIGSEGV (seen once: the camera, exit -11, on Debian's OpenCV) prints its
    threads' Python stacks, so the launch log says where it was."""
    recognizer = start('recognizer_node', '--params-file', PARAMS)
    lines = [recognizer.stdout.readline()]
    while lines[-1] and 'listening on' not in lines[-1]:
        lines.append(recognizer.stdout.readline())
    assert lines[-1], ''.join(lines)
    recognizer.send_signal(signal.SIGSEGV)
    log = ''.join(lines) + recognizer.communicate(timeout=30)[0]
    assert recognizer.returncode == -signal.SIGSEGV, log
    assert 'Fatal Python error: Segmentation fault' in log and 'File "' in log, log
