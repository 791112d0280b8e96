"""Shared fixtures. Real data comes from ../shared beside the repository; its absence is an
error."""

import os
import random
import subprocess
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get('EXPRESSION_RECOGNIZER_SHARED',
                        os.path.join(os.path.dirname(REPO), 'shared'))
CKPLUS = os.path.join(SHARED, 'datasets', 'ckplus')
FER2013 = os.path.join(SHARED, 'datasets', 'fer2013', 'fer2013.csv.gz')
YALE = os.path.join(SHARED, 'datasets', 'yale')
PHOTOS = os.path.join(SHARED, 'photos')
# The colcon install the node tests start (make test builds it).
INSTALL = os.path.join(REPO, 'install', 'expression_recognizer_ros')
LIB = os.path.join(INSTALL, 'lib', 'expression_recognizer_ros')
SHARE = os.path.join(INSTALL, 'share', 'expression_recognizer_ros')
PARAMS = os.path.join(SHARE, 'config', 'recognizer.yaml')

# Each test run gets its own DDS domain, so a demo or another run on this machine cannot interfere.
os.environ.setdefault('ROS_DOMAIN_ID', str(random.Random(os.getpid()).randint(1, 200)))


def pytest_sessionstart(session):
    missing = [p for p in (CKPLUS, FER2013, YALE, PHOTOS) if not os.path.exists(p)]
    if missing:
        raise pytest.UsageError(f'test data missing: {missing} (set EXPRESSION_RECOGNIZER_SHARED)')


@pytest.fixture(scope='session')
def ckplus():
    from expression_recognizer_ros.tools.datasets import load_folder
    return load_folder(CKPLUS)


@pytest.fixture(scope='session')
def fer2013():
    from expression_recognizer_ros.tools.datasets import load_fer2013
    return load_fer2013(FER2013)


@pytest.fixture(scope='session')
def photos():
    import cv2
    return {name: cv2.imread(os.path.join(PHOTOS, name))
            for name in ('astronaut.png', 'grace_hopper_512x512.jpg')}


@pytest.fixture(scope='session')
def small_ckplus(ckplus):
    """CK+ faces of 40 subjects: enough to train and cross-validate in seconds."""
    subjects = sorted(set(ckplus.subjects))[:40]
    return ckplus.subset([i for i, s in enumerate(ckplus.subjects) if s in subjects])


@pytest.fixture(scope='module')
def node():
    """A ROS node in this test process, for tests that talk to node processes over DDS."""
    import rclpy
    rclpy.init()
    node = rclpy.create_node('test_listener')
    yield node
    node.destroy_node()
    rclpy.shutdown()


def start(executable, *ros_args):
    """An installed node executable in its own process, output captured."""
    return subprocess.Popen([os.path.join(LIB, executable), '--ros-args', *ros_args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop(process):
    """SIGTERM, as a service manager stops a node; its output."""
    process.terminate()
    try:
        return process.communicate(timeout=10)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()[0]


def spin_until(node, condition, timeout=30.0):
    """Spin ``node`` until ``condition()`` holds or ``timeout`` seconds pass; its last value."""
    import rclpy
    end = time.monotonic() + timeout
    while time.monotonic() < end and not condition():
        rclpy.spin_once(node, timeout_sec=0.1)
    return condition()


def call(node, service_type, name, request):
    """Call a service, asking again if no reply comes: wait_for_service sees only the server, and
    a reply sent before the server has discovered our response reader is lost (a known ROS 2
    race)."""
    client = node.create_client(service_type, name)
    assert client.wait_for_service(timeout_sec=20)
    for _ in range(5):
        future = client.call_async(request)
        if spin_until(node, future.done, timeout=3):
            return future.result()
    raise AssertionError(f'no reply from {name}')
