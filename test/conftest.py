"""Shared fixtures. The bundled public-domain photos (media/) serve every test that needs no
research data, so a bare clone tests the pipeline, nodes, launch files, fuzzing and lint. FER2013,
CK+, Yale, the real photos and ros/rosdistro's files come from ../shared beside the repository (or
EXPRESSION_RECOGNIZER_SHARED): a test that needs one gets it through the fixtures below, which skip
with one line saying what is missing and where to put it. Under CI (CI=true) or with
REQUIRE_DATA=1, missing data instead refuses the whole run at its start, so CI never passes by
skipping."""

import os
import random
import subprocess
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get('EXPRESSION_RECOGNIZER_SHARED',
                        os.path.join(os.path.dirname(REPO), 'shared'))
# name -> (what it is, its path inside SHARED)
DATA = {
    'fer2013': ('FER2013', os.path.join('datasets', 'fer2013', 'fer2013.csv.gz')),
    'ckplus': ('CK+48', os.path.join('datasets', 'ckplus')),
    'yale': ('the Yale faces', os.path.join('datasets', 'yale')),
    'real': ('the real photos', os.path.join('photos', 'real')),
    'rosdistro': ("ros/rosdistro's files", 'rosdistro'),
}
# The two public-domain photos, bundled with the project.
PHOTOS = os.path.join(REPO, 'media')
# The colcon install the node tests start (make test builds it).
INSTALL = os.path.join(REPO, 'install', 'expression_recognizer_ros')
LIB = os.path.join(INSTALL, 'lib', 'expression_recognizer_ros')
SHARE = os.path.join(INSTALL, 'share', 'expression_recognizer_ros')
PARAMS = os.path.join(SHARE, 'config', 'recognizer.yaml')

# Each test run gets its own DDS domain, so a demo or another run on this machine cannot interfere.
os.environ.setdefault('ROS_DOMAIN_ID', str(random.Random(os.getpid()).randint(1, 200)))


def data_path(name):
    return os.path.join(SHARED, DATA[name][1])


def missing_data(name):
    """One line: what is missing and where to put it; None when it is there."""
    if os.path.exists(data_path(name)):
        return None
    what, inside = DATA[name]
    return (f'needs {what} at {data_path(name)}: put ../shared/{inside} beside the repository '
            f'or set EXPRESSION_RECOGNIZER_SHARED')


def data_required():
    """CI=true or REQUIRE_DATA=1: missing data fails the run instead of skipping tests."""
    return (os.environ.get('REQUIRE_DATA', '') not in ('', '0')
            or os.environ.get('CI', '').lower() in ('true', '1'))


def pytest_configure(config):
    config.addinivalue_line(
        'markers', "training: a training command's fit, tested for its maths: make test runs "
                   'it, make test-distro does not (what training writes is checked on that stack '
                   'by the tests of the shipped models and of a tiny trained network)')


def pytest_sessionstart(session):
    missing = [f'{DATA[name][0]} at {data_path(name)}' for name in DATA if missing_data(name)]
    if missing and data_required():
        raise pytest.UsageError(f'test data missing, and CI or REQUIRE_DATA asks for all of it: '
                                f'{", ".join(missing)} (put ../shared beside the repository or '
                                f'set EXPRESSION_RECOGNIZER_SHARED)')


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makemodule(module_path, parent):
    """launch_testing's pytest plugin imports each test file to look for a launch test and lets a
    module-level skip escape (test_hri.py without hri_msgs: a venv or ROS 2 install with the launch
    tools but not ROS4HRI), which skips the whole test folder; pytest's own Module reports that
    file's skip alone."""
    try:
        return (yield)
    except pytest.skip.Exception:
        return pytest.Module.from_parent(parent, path=module_path)


def require(name):
    """The path of research data ``name``; skips the test that needs it when it is missing."""
    reason = missing_data(name)
    if reason:
        pytest.skip(reason)
    return data_path(name)


@pytest.fixture(scope='session')
def fer2013_csv():
    return require('fer2013')


@pytest.fixture(scope='session')
def ckplus_dir():
    return require('ckplus')


@pytest.fixture(scope='session')
def yale_dir():
    return require('yale')


@pytest.fixture(scope='session')
def real_photos():
    """photos/real: not public domain, so never in the repository."""
    return require('real')


@pytest.fixture(scope='session')
def rosdistro_dir():
    return require('rosdistro')


@pytest.fixture(scope='session')
def ckplus(ckplus_dir):
    from expression_recognizer_ros.tools.datasets import load_folder
    return load_folder(ckplus_dir)


@pytest.fixture(scope='session')
def fer2013(fer2013_csv):
    from expression_recognizer_ros.tools.datasets import load_fer2013
    return load_fer2013(fer2013_csv)


@pytest.fixture(scope='session')
def photos():
    """The bundled photos by file name, BGR."""
    from expression_recognizer_ros.tools import synthetic
    return dict(zip(synthetic.PHOTOS, synthetic.bundled_photos()))


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
