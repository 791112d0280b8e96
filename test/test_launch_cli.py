"""The `ros2` command lines the README shows, as a user types them: `ros2 launch` in a process
group as a terminal runs it, `ros2 topic echo`, `ros2 param set/get`, stopped with Ctrl-C (SIGINT
to the group, so each node gets it twice) and with SIGTERM; and the default launch on a machine
without a webcam.

The launch tools are not wheels: `make test` installs them from ../shared/ros2-extras; a ROS 2
install has them. Without them these tests are skipped, with that reason."""

import os
import re
import shutil
import signal
import subprocess
import time

import pytest

if shutil.which('ros2') is None:
    pytest.skip('ROS 2 launch tools missing: make test installs them from ../shared/ros2-extras',
                allow_module_level=True)

from test_launch_arguments import inputs  # noqa: E402


@pytest.fixture(scope='module')
def photo_folder():
    return inputs()['folder']


# The command lines of the README, as a user types them.

def ros2_launch(*arguments):
    """``ros2 launch`` in its own process group, as a terminal starts it."""
    return subprocess.Popen(['ros2', 'launch', 'expression_recognizer_ros', 'recognizer.launch.py',
                             *arguments],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def ctrl_c(process, times=2):
    """A terminal's Ctrl-C: SIGINT to the whole process group (``ros2 launch`` forwards it to its
    nodes too, so each node gets it twice), ``times`` times in quick succession. Returns launch's
    output."""
    for _ in range(times):
        os.killpg(process.pid, signal.SIGINT)
        time.sleep(0.05)
    return output(process)


def output(process, wait=30):
    """Everything ``ros2 launch`` printed, once it has ended (killed if not after ``wait`` s)."""
    try:
        return process.communicate(timeout=wait)[0]
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        return process.communicate()[0] + '\n(killed: did not stop)'


def ros2(*arguments, timeout=60):
    return subprocess.run(['ros2', *arguments], capture_output=True, text=True,
                          timeout=timeout).stdout


def echo_once(topic, *options, timeout=60):
    """``ros2 topic echo --once``, once the topic is there: echo without a type gives up on a topic
    that has no publisher yet, as a user sees right after ``ros2 launch``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and topic not in ros2('topic', 'list').split():
        time.sleep(0.5)
    return ros2('topic', 'echo', '--once', *options, topic)


@pytest.fixture(scope='module', autouse=True)
def no_daemon_left():
    """The ros2 CLI starts a discovery daemon on first use; stop it after these tests."""
    yield
    subprocess.run(['ros2', 'daemon', 'stop'], capture_output=True, timeout=30)


def clean_exit(log, process, nodes):
    assert process.returncode == 0, log
    for name in nodes:
        assert re.search(rf'\[{name}_node-\d+\]: process has finished cleanly', log), log
    for bad in ('Traceback', 'process has died', 'terminate called', 'KeyboardInterrupt',
                '(killed'):
        assert bad not in log, log


def test_readme_commands_and_ctrl_c(photo_folder):
    """ros2 launch, ros2 topic echo --once /emotion, ros2 param set/get, then Ctrl-C while frames
    flow."""
    launch = ros2_launch(f'source:={photo_folder}', 'use_mirror:=true')
    try:
        echo = echo_once('/emotion')
        assert 'face_detected:' in echo and 'labels:' in echo, echo
        # --timeout: the node's parameter services may take more than the default 1 s to be
        # discovered on a loaded machine (seen in a full test run: "Node not found")
        assert 'Set parameter successful' in ros2('param', 'set', '--timeout', '20',
                                                  '/recognizer', 'haar.min_neighbors', '6')
        assert 'Integer value is: 6' in ros2('param', 'get', '--timeout', '20', '/recognizer',
                                             'haar.min_neighbors')
        # the name before haar.* (deprecated) still sets it
        assert 'Set parameter successful' in ros2('param', 'set', '--timeout', '20',
                                                  '/recognizer', 'min_neighbors', '5')
        assert 'Integer value is: 5' in ros2('param', 'get', '--timeout', '20', '/recognizer',
                                             'haar.min_neighbors')
    finally:
        log = ctrl_c(launch)
    clean_exit(log, launch, ('camera', 'recognizer', 'mirror'))
    assert log.count('process has finished cleanly') == 3, log


def test_sigterm_to_each_node(photo_folder):
    """SIGTERM, as a service manager stops a process, to each node while frames flow: each exits 0,
    and launch ends by itself once its nodes have. (SIGTERM to ros2 launch itself makes launch
    leave at once and orphan its nodes, by launch's design: stop launch with SIGINT.)"""
    import psutil
    launch = ros2_launch(f'source:={photo_folder}', 'use_mirror:=true')
    try:
        assert 'face_detected:' in echo_once('/emotion')
        # All three active (the mirror publishes only then), so each one stops from running.
        assert 'stamp:' in echo_once('/robot_face/image', '--field', 'header')
        nodes = psutil.Process(launch.pid).children()
        assert len(nodes) == 3
        for process in nodes:
            process.send_signal(signal.SIGTERM)
    finally:
        log = output(launch)
    clean_exit(log, launch, ('camera', 'recognizer', 'mirror'))


def echo_emotion(env, seconds):
    """An Emotion through ``ros2 topic echo`` in ``env``, or '' if none came within ``seconds``."""
    command = ['ros2', 'topic', 'echo', '--once', '--no-daemon', '/emotion',
               'expression_recognizer_ros/msg/Emotion']
    try:
        return subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=seconds).stdout
    except subprocess.TimeoutExpired:
        return ''


def test_large_data_reaches_only_large_data_peers(photo_folder):
    """large_data:=true, on one host too: a peer on Fast DDS's default transports sees nothing of
    the launched nodes (measured; the README says so); a LARGE_DATA peer receives. (In its own
    ros2 launch: the variable must not leak into other tests' processes.)"""
    launch = ros2_launch(f'source:={photo_folder}', 'large_data:=true')
    try:
        # a second look: once in about ten runs the first LARGE_DATA echo saw nothing for 60 s
        # (cause not found; the launch log below is kept for when both fail)
        large_env = dict(os.environ, FASTDDS_BUILTIN_TRANSPORTS='LARGE_DATA')
        large = echo_emotion(large_env, 60) or echo_emotion(large_env, 30)
        default = echo_emotion(dict(os.environ), 10) if large else None
    finally:
        log = ctrl_c(launch)
    assert 'face_detected:' in large, log        # the launch's output says why not
    assert default == '', default
    clean_exit(log, launch, ('camera', 'recognizer'))


@pytest.mark.parametrize('arguments, opened', [((), 'camera index 0'),
                                                (('source:=0',), 'camera index 0'),
                                                (('source:=2',), 'camera index 2')])
def test_default_camera_without_a_webcam(arguments, opened):
    """No webcam here: the camera ends with its own one-line error (numbers stay camera indices,
    never a parameter type error), and the recognizer keeps running until Ctrl-C."""
    launch = ros2_launch(*arguments)
    try:
        lines = []
        end = time.monotonic() + 60
        while time.monotonic() < end and not all(any(text in line for line in lines)
                                                 for text in ('process has died', 'listening on')):
            lines.append(launch.stdout.readline())
        # Ctrl-C once the recognizer is active, as a user would after reading the camera's error.
        time.sleep(1.0)
    finally:
        log = ''.join(lines) + ctrl_c(launch)
    assert (f'camera: cannot open {opened} (/dev/video{opened[-1]}): '
            'no such device or it is busy') in log, log
    assert 'exit code 1' in log and 'Exception' not in log and 'Traceback' not in log, log
    assert 'GStreamer' not in log, log   # cameras through V4L2, even where OpenCV has GStreamer
    assert launch.returncode == 0, log
    assert '[recognizer_node-2]: process has finished cleanly' in log, log
