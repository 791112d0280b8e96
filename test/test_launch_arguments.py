"""The installed launch file with every launch argument the README documents, one launch per case
(launch_testing, as ROS 2 packages test their launch files), checked over DDS from this process;
after each launch's shutdown (SIGINT, as Ctrl-C) every node must have exited with status 0.

The launch tools are not wheels: `make test` installs them from ../shared/ros2-extras; a ROS 2
install has them. Without them this file is skipped, with that reason."""

import functools
import os
import tempfile
import unittest

from conftest import call, PHOTOS, SHARE, spin_until
import cv2
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
import numpy as np
import pytest
from rcl_interfaces.srv import GetParameters
import rclpy
from sensor_msgs.msg import CompressedImage, Image

from expression_recognizer_ros.msg import Emotion
from expression_recognizer_ros.tools.synthetic import compose_frames, compose_stream, Person

# Skips this file without the launch tools; the imports below bind launch_testing.
pytest.importorskip('launch_testing', reason='ROS 2 launch tools missing: make test installs them '
                                             'from ../shared/ros2-extras')
from launch import LaunchDescription  # noqa: E402
from launch.actions import GroupAction, IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402

LAUNCH_FILE = os.path.join(SHARE, 'launch', 'recognizer.launch.py')
VIDEO_FPS = 10.0


HOLD = 8    # frames per picture in the photo folder: YuNet's tracks report a face after 3 in a row


@functools.cache
def inputs():
    """A photo folder (composed frames with a face, nobody, the two real photos; each picture HOLD
    times, nobody 3 x HOLD so the last face's track ends), a 3-s video at 10 fps, a user's own
    params file naming the folder, and a folder with a composed two-person stream."""
    root = tempfile.mkdtemp(prefix='launch_inputs_')
    folder = os.path.join(root, 'photos')
    os.makedirs(folder)
    nobody = np.full((480, 640, 3), 127, np.uint8)
    pictures = compose_frames(count=4, every_nth_empty=0) + [nobody, nobody, nobody]
    pictures += [cv2.imread(os.path.join(PHOTOS, name))
                 for name in ('astronaut.png', 'grace_hopper_512x512.jpg')]
    for i, frame in enumerate(f for f in pictures for _ in range(HOLD)):
        cv2.imwrite(os.path.join(folder, f'{i:03d}.png'), frame)
    people = os.path.join(root, 'people')
    os.makedirs(people)
    for i, frame in enumerate(two_people()):
        cv2.imwrite(os.path.join(people, f'{i:03d}.png'), frame)
    video = os.path.join(root, 'clip.avi')
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'MJPG'), VIDEO_FPS, (640, 480))
    for frame in compose_frames(count=30, every_nth_empty=0, clip=30):
        writer.write(frame)
    writer.release()
    params = os.path.join(root, 'mine.yaml')
    with open(params, 'w') as f:
        f.write(f'/**/camera:\n  ros__parameters:\n    source: "{folder}"\n    frame_rate: 5.0\n'
                '/**/recognizer:\n  ros__parameters:\n    haar:\n      min_neighbors: 7\n')
    return {'folder': folder, 'video': video, 'params': params, 'people': people}


def two_people(count=60):
    """Grace Hopper (larger, left) and the astronaut (right), both in view all along, drifting."""
    photos = {name: cv2.imread(os.path.join(PHOTOS, name))
              for name in ('astronaut.png', 'grace_hopper_512x512.jpg')}
    people = [Person('grace', (photos['grace_hopper_512x512.jpg'],), 0, count, (30, 90), (70, 110),
                     240, 250),
              Person('astro', (photos['astronaut.png'],), 0, count, (430, 150), (400, 140), 160,
                     170)]
    return compose_stream(people, count)[0]


# case: the launch arguments of each included launch file (one pipeline each)
CASES = {
    'source_folder': [{'source': 'folder'}],
    'source_video': [{'source': 'video'}],
    'model': [{'source': 'folder', 'model': 'cnn2-fer2013'}],
    'existing_driver': [{'use_camera': 'false', 'image_topic': '/driver/image'}],
    'params_file': [{'params_file': 'params'}],
    'mirror': [{'source': 'folder', 'use_mirror': 'true'}],
    'two_namespaces': [{'namespace': 'left', 'source': 'folder'},
                       {'namespace': 'right', 'source': 'video'}],
    'lifecycle': [{'use_camera': 'false', 'image_topic': '/driver/image', 'autostart': 'false'}],
    'two_people_hri': [{'source': 'people'}],
    'compressed': [{'source': 'folder', 'transport': 'compressed'}],
}


def included(arguments):
    """The installed launch file with these launch arguments (names of inputs() replaced by
    paths)."""
    values = {name: inputs().get(value, value) for name, value in arguments.items()}
    return GroupAction([IncludeLaunchDescription(PythonLaunchDescriptionSource(LAUNCH_FILE),
                                                 launch_arguments=values.items())])


@pytest.mark.launch_test
@launch_testing.parametrize('case', list(CASES))
def generate_test_description(case):
    return LaunchDescription([*(included(arguments) for arguments in CASES[case]),
                              launch_testing.actions.ReadyToTest()])


def received(node, msg_type, topic, count=3, timeout=60.0, until=lambda messages: True):
    """Messages on ``topic`` once ``count`` have come and ``until(messages)`` holds (or at the
    timeout)."""
    messages = []
    subscription = node.create_subscription(msg_type, topic, messages.append, 50)
    spin_until(node, lambda: len(messages) >= count and until(messages), timeout)
    node.destroy_subscription(subscription)
    return messages


def parameters(node, node_name, *names):
    values = call(node, GetParameters, f'{node_name}/get_parameters',
                  GetParameters.Request(names=list(names)))
    return [rclpy.parameter.parameter_value_to_python(v) for v in values.values]


def check_source_folder(node):
    # frames are dropped when they come faster than the node: wait for each kind
    def both(emotions):
        return (any(e.face_detected for e in emotions)
                and any(not e.face_detected for e in emotions))
    emotions = received(node, Emotion, '/emotion', count=10, until=both)
    assert len(emotions) >= 10 and both(emotions)
    assert {e.model for e in emotions} == {'fisherface-fer2013'}
    assert parameters(node, '/camera', 'source', 'frame_rate') == [inputs()['folder'], 0.0]


def check_source_video(node):
    """The camera plays the video at its own 10 fps, not the default 30."""
    images = received(node, Image, '/image_raw', count=25)
    stamps = [i.header.stamp.sec + i.header.stamp.nanosec * 1e-9 for i in images]
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert 0.8 * VIDEO_FPS < rate < 1.2 * VIDEO_FPS, f'{rate:.1f} Hz'
    assert received(node, Emotion, '/emotion')


def check_model(node):
    emotions = received(node, Emotion, '/emotion')
    assert emotions and {e.model for e in emotions} == {'cnn2-fer2013'}


def answered(node, timeout=60.0):
    """Publish a real photo on /driver/image until an Emotion with a face comes back (or the
    timeout)."""
    face = cv2.imread(os.path.join(PHOTOS, 'grace_hopper_512x512.jpg'))
    publisher = node.create_publisher(Image, '/driver/image', 10)
    image = Image(encoding='bgr8', height=face.shape[0], width=face.shape[1],
                  step=face.shape[1] * 3, data=face.tobytes())
    emotions = []
    subscription = node.create_subscription(Emotion, '/emotion', emotions.append, 10)

    def send():
        publisher.publish(image)
        rclpy.spin_once(node, timeout_sec=0.2)
        return emotions and emotions[-1].face_detected
    spin_until(node, send, timeout=timeout)
    node.destroy_publisher(publisher)
    node.destroy_subscription(subscription)
    return bool(emotions)


def check_existing_driver(node):
    """use_camera:=false image_topic:=...: no camera node; the recognizer answers our own
    publisher."""
    assert answered(node)
    names = node.get_node_names_and_namespaces()
    assert ('recognizer', '/') in names and ('camera', '/') not in names


def check_params_file(node):
    """No source argument: the file's camera.source applies, and its recognizer values."""
    assert received(node, Emotion, '/emotion')
    assert parameters(node, '/camera', 'source', 'frame_rate') == [inputs()['folder'], 5.0]
    assert parameters(node, '/recognizer', 'haar.min_neighbors', 'haar.scale_factor') == [7, 1.1]


def check_mirror(node):
    faces = received(node, Image, '/robot_face/image')
    assert faces and (faces[0].width, faces[0].height, faces[0].encoding) == (320, 240, 'bgr8')


def check_two_namespaces(node):
    """Two pipelines side by side: own topics, own node names, own parameters, nothing on
    /emotion."""
    assert received(node, Emotion, '/left/emotion') and received(node, Emotion, '/right/emotion')
    assert parameters(node, '/left/camera', 'source') == [inputs()['folder']]
    assert parameters(node, '/right/camera', 'source') == [inputs()['video']]
    expected = {(n, ns) for n in ('camera', 'recognizer') for ns in ('/left', '/right')}
    # the graph's node list can lag behind the topics and services just used: wait for it
    assert spin_until(node, lambda: expected <= set(node.get_node_names_and_namespaces()),
                      timeout=10.0), node.get_node_names_and_namespaces()
    assert not received(node, Emotion, '/emotion', count=1, timeout=2.0)


def check_lifecycle(node):
    """autostart:=false: the recognizer waits unconfigured; the lifecycle services (as `ros2
    lifecycle set` calls them) configure it (no Emotions while inactive), activate it (Emotions),
    deactivate it (none again), and clean it up."""
    def state():
        return call(node, GetState, '/recognizer/get_state',
                    GetState.Request()).current_state.label

    def change(transition):
        return call(node, ChangeState, '/recognizer/change_state',
                    ChangeState.Request(transition=Transition(id=transition))).success
    assert state() == 'unconfigured'
    assert change(Transition.TRANSITION_CONFIGURE) and state() == 'inactive'
    assert not answered(node, timeout=3.0)
    assert change(Transition.TRANSITION_ACTIVATE) and state() == 'active'
    assert answered(node)
    assert change(Transition.TRANSITION_DEACTIVATE) and state() == 'inactive'
    assert not answered(node, timeout=3.0)
    assert change(Transition.TRANSITION_CLEANUP) and state() == 'unconfigured'
    assert change(Transition.TRANSITION_CONFIGURE) and change(Transition.TRANSITION_ACTIVATE)
    assert answered(node)


def check_two_people_hri(node):
    """Two people in view: /humans/faces/tracked lists both IDs, each ID has its expression topic,
    and /emotion carries the attended (larger) face's ID and two faces in view."""
    from hri_msgs.msg import Expression, IdsList, NormalizedRegionOfInterest2D

    # The clip loops every 2 s and each loop starts new tracks: the IDs, the attended face and the
    # per-face topics are read together, again if a loop came between them.
    for _ in range(3):
        tracked = received(node, IdsList, '/humans/faces/tracked', count=5,
                           until=lambda messages: len(messages[-1].ids) == 2)
        assert tracked and len(tracked[-1].ids) == 2, [m.ids for m in tracked[-5:]]
        ids = list(tracked[-1].ids)
        attended = received(node, Emotion, '/emotion', count=5,
                            until=lambda messages: messages[-1].num_faces == 2)[-1]
        expressions = {i: received(node, Expression, f'/humans/faces/{i}/expression', count=2)
                       for i in ids}
        rois = {i: received(node, NormalizedRegionOfInterest2D, f'/humans/faces/{i}/roi',
                            count=1) for i in ids}
        if attended.face_id in ids and all(expressions.values()) and all(rois.values()):
            break
    assert attended.num_faces == 2 and attended.face_detected and attended.face_id in ids
    assert attended.detector == 'yunet'
    assert attended.face_roi.x_offset < 320    # Grace, on the left, is the larger face
    for face_id in ids:
        assert expressions[face_id], face_id
        e = expressions[face_id][-1]
        assert e.expression in ('neutral', 'angry', 'disgusted', 'scared', 'happy', 'sad',
                                'surprised')
        assert 0.0 < e.confidence <= 1.0 and -1.0 <= e.valence <= 1.0 and -1.0 <= e.arousal <= 1.0
        assert e.header.frame_id == 'camera'
        assert rois[face_id] and 0.0 <= rois[face_id][-1].xmin < rois[face_id][-1].xmax <= 1.0
    assert rois[attended.face_id][-1].xmin < 0.5


def check_compressed(node):
    """transport:=compressed: the camera publishes JPEG on /image_raw/compressed (nothing raw), the
    recognizer subscribes it and answers with faces and without."""
    images = received(node, CompressedImage, '/image_raw/compressed', count=3)
    assert images and images[-1].format == 'bgr8; jpeg compressed bgr8'

    def both(emotions):
        return (any(e.face_detected for e in emotions)
                and any(not e.face_detected for e in emotions))
    emotions = received(node, Emotion, '/emotion', count=10, until=both)
    assert both(emotions)
    assert parameters(node, '/camera', 'transport') == ['compressed']
    assert parameters(node, '/recognizer', 'transport') == ['compressed']
    assert not node.get_publishers_info_by_topic('/image_raw')
    subscribers = node.get_subscriptions_info_by_topic('/image_raw/compressed')
    assert any(info.node_name == 'recognizer' for info in subscribers)


class TestLaunchArgument(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node('launch_test')

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def test_case(self, case):
        globals()[f'check_{case}'](self.node)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):

    def test_every_node_exits_cleanly_on_sigint(self, proc_info, proc_output):
        launch_testing.asserts.assertExitCodes(proc_info)
        for process in proc_info.process_names():
            text = ''.join(o.text.decode() for o in proc_output[process])
            self.assertNotIn('Traceback', text)
