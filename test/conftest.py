"""Shared fixtures. Real data comes from ../shared beside the repository; its absence is an
error."""

import os
import random

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get('EXPRESSION_RECOGNIZER_SHARED',
                        os.path.join(os.path.dirname(REPO), 'shared'))
CKPLUS = os.path.join(SHARED, 'datasets', 'ckplus')
FER2013 = os.path.join(SHARED, 'datasets', 'fer2013', 'fer2013.csv.gz')
YALE = os.path.join(SHARED, 'datasets', 'yale')
PHOTOS = os.path.join(SHARED, 'photos')

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
