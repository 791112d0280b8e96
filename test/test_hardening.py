"""Bad input and faults against real node processes: each refused with its reason, the node
alive."""

import os
import shutil
import subprocess
import time

from conftest import LIB, PARAMS, PHOTOS, spin_until, start, stop
import cv2
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
import rclpy
from sensor_msgs.msg import CompressedImage, Image

from expression_recognizer_ros.msg import Emotion

FACE = cv2.imread(os.path.join(PHOTOS, 'astronaut.png'))
JPEG = cv2.imencode('.jpg', FACE)[1].tobytes()


def image(encoding='bgr8', height=512, width=512, step=512 * 3, data=FACE.tobytes(), stamp=0):
    msg = Image(encoding=encoding, height=height, width=width, step=step, data=data)
    msg.header.stamp.sec = stamp
    return msg


def compressed(image_format='bgr8; jpeg compressed bgr8', data=JPEG, stamp=0):
    msg = CompressedImage(format=image_format, data=data)
    msg.header.stamp.sec = stamp
    return msg


def recognizer_under_test(node, name, msg_type, *arguments):
    """A recognizer on ``name``/image (or image/compressed), reporting every 0.2 s; yields the
    publisher, its Emotions, the reports' 'last failure' and 'frames failed' values, and checks
    its log at the end: no traceback, and the warning for skipped frames throttled."""
    started = time.monotonic()
    process = start('recognizer_node', '--params-file', PARAMS, '-r', f'image:={name}/image',
                    '-r', f'emotion:={name}/emotion', '-p', 'diagnostics.period:=0.2',
                    *arguments)
    suffix = '/compressed' if msg_type is CompressedImage else ''
    publisher = node.create_publisher(msg_type, f'{name}/image{suffix}', 10)
    emotions, failures, failed = [], [], []
    subscriptions = [node.create_subscription(Emotion, f'{name}/emotion', emotions.append, 10)]

    def on_diagnostics(msg):
        for status in msg.status:
            if status.name == 'recognizer: expression recognition':
                values = {v.key: v.value for v in status.values}
                if values['input topic'] == f'/{name}/image{suffix}':
                    failures.append(values['last failure'])
                    failed.append(int(values['frames failed']))
    subscriptions.append(
        node.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 10))
    yield publisher, emotions, failures, failed
    log = stop(process)
    for subscription in subscriptions:
        node.destroy_subscription(subscription)
    assert 'Traceback' not in log, log
    if failed and failed[-1]:
        skipped = log.count('frame skipped')     # one line per 5 s at most, and one at least
        assert 0 < skipped <= (time.monotonic() - started) / 5 + 1, log
        assert skipped < failed[-1], (failed[-1], log)


@pytest.fixture(scope='module')
def recognizer(node):
    yield from recognizer_under_test(node, 'hard', Image)


@pytest.fixture(scope='module')
def compressed_recognizer(node):
    yield from recognizer_under_test(node, 'hardc', CompressedImage, '-p', 'transport:=compressed')


BAD = {
    'unknown encoding': (dict(encoding='32FC1'), 'unsupported image encoding'),
    'zero size': (dict(height=0, width=0, data=b''), 'empty image'),
    'step smaller than a row': (dict(step=100), 'step 100 is smaller'),
    'truncated data': (dict(data=FACE.tobytes()[:5000]), 'truncated image data'),
    'huge frame': (dict(height=8000, width=8000, step=24000, data=b'\0' * 16), 'exceeds'),
    'step/size mismatch': (dict(height=600, step=512 * 3), 'truncated image data'),
}


@pytest.mark.parametrize('case', list(BAD))
def test_bad_frame_is_refused_with_its_reason_and_the_next_good_frame_answered(
        node, recognizer, case):
    publisher, emotions, failures, _ = recognizer
    change, reason = BAD[case]
    refused_then_answered(node, publisher, image, change, reason, emotions, failures,
                          stamp=1000 + list(BAD).index(case))


def refused_then_answered(node, publisher, make, change, reason, emotions, failures, stamp,
                          counted=lambda: True):
    """Publish the bad frame (``make(**change)``) until /diagnostics names ``reason`` (and
    ``counted()``), then a good one until its Emotion comes: the node never stops answering."""
    def send():
        publisher.publish(make(**change))
        rclpy.spin_once(node, timeout_sec=0.1)
        return failures and reason in failures[-1] and counted()
    assert spin_until(node, send), f'no diagnostics naming {reason!r}; last: {failures[-1:]}'

    def good():
        publisher.publish(make(stamp=stamp))
        rclpy.spin_once(node, timeout_sec=0.1)
        return any(e.header.stamp.sec == stamp and e.face_detected for e in emotions)
    assert spin_until(node, good), 'the node stopped answering after a bad frame'


BAD_COMPRESSED = {
    'truncated JPEG': (dict(data=JPEG[:len(JPEG) // 2]), 'truncated JPEG'),
    'random bytes': (dict(data=np.random.default_rng(0).bytes(20000)), 'not jpeg'),
    'lying format': (dict(image_format='bgr8; png compressed bgr8'), 'bytes are jpeg'),
    '16-bit depth': (dict(image_format='16UC1; compressedDepth png',
                          data=cv2.imencode('.png', np.full((48, 64), 1500, np.uint16))[1]
                          .tobytes()), 'compressedDepth'),
    'unknown format': (dict(image_format='bgr8; theora compressed bgr8'),
                       'unsupported compressed format'),
}


@pytest.mark.parametrize('case', list(BAD_COMPRESSED))
def test_bad_compressed_frame_is_counted_failed_and_the_next_good_frame_answered(
        node, compressed_recognizer, case):
    publisher, emotions, failures, failed = compressed_recognizer
    change, reason = BAD_COMPRESSED[case]
    before = failed[-1] if failed else 0
    refused_then_answered(node, publisher, compressed, change, reason, emotions, failures,
                          stamp=2000 + list(BAD_COMPRESSED).index(case),
                          counted=lambda: failed[-1] > before)


@pytest.mark.parametrize('args, message', [
    (['-p', 'model_dir:=/no/such/model'], 'no manifest.json'),
    (['-p', 'detector:=haar_fallback', '-p', 'haar.cascades:=[no_such_cascade.xml]'],
     "cascade 'no_such_cascade.xml' not found"),
    (['-p', 'detector:=dlib'], "detector must be one of ('yunet', 'haar_fallback'), got 'dlib'"),
    (['-p', 'attend:=left'], "attend must be one of ('largest', 'centre'), got 'left'"),
    (['-p', 'yunet.score_threshold:=1.5'], 'score_threshold must be in (0, 1], got 1.5'),
    (['-p', 'reliability:=sometimes'],
     "reliability must be one of auto, reliable, best_effort, got 'sometimes'"),
    (['-p', 'transport:=theora'], "transport must be one of raw, compressed, got 'theora'"),
    (['-p', 'haar.min_size_ratio:=2.0'], 'min_size_ratio must be in [0, 1)'),
])
def test_bad_start_up_settings_are_one_clear_line(args, message):
    result = subprocess.run([os.path.join(LIB, 'recognizer_node'), '--ros-args',
                             '--params-file', PARAMS, *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert message in result.stdout, result.stdout + result.stderr
    assert 'Traceback' not in result.stdout + result.stderr


def test_corrupt_model_file_is_a_clear_start_up_error(tmp_path):
    from expression_recognizer_ros.classifiers.registry import default_model_dir
    model = tmp_path / 'model'
    shutil.copytree(default_model_dir(), model)
    with open(model / 'fisherface_03.yml', 'r+b') as f:
        f.seek(2000)
        f.write(b'garbage')
    result = subprocess.run([os.path.join(LIB, 'recognizer_node'), '--ros-args',
                             '-p', f'model_dir:={model}'],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert 'fisherface_03.yml does not match its checksum' in result.stdout


def camera_log_until(process, text, timeout=20):
    """Read a node's output until a line contains ``text``; returns the lines read."""
    lines, end = [], time.monotonic() + timeout
    os.set_blocking(process.stdout.fileno(), False)
    while time.monotonic() < end:
        line = process.stdout.readline()
        if line:
            lines.append(line)
            if text in line:
                return lines
        else:
            time.sleep(0.05)
    raise AssertionError(f'{text!r} not in {"".join(lines)}')


@pytest.mark.parametrize('retry', [False, True])
def test_camera_that_disappears_mid_stream(node, tmp_path, retry):
    folder, away = tmp_path / 'frames', tmp_path / 'unplugged'
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f'{i}.png'), np.full((48, 64, 3), 60 * i, np.uint8))
    images = []
    node.create_subscription(Image, f'cam_{retry}/image_raw', images.append, 10)
    camera = start('camera_node', '-r', f'__ns:=/cam_{retry}', '-p', f'source:={folder}',
                   '-p', 'frame_rate:=10.0', '-p', f'retry:={str(retry).lower()}')
    try:
        assert spin_until(node, lambda: len(images) >= 3)
        folder.rename(away)                                  # the device is gone
        if not retry:
            assert camera.wait(timeout=20) == 1
            out = camera.stdout.read()
            assert 'cannot read image' in out and 'Traceback' not in out
            return
        camera_log_until(camera, 'retrying')
        away.rename(folder)                                  # and back
        count = len(images)
        assert spin_until(node, lambda: len(images) >= count + 3), \
            'no frames after the source came back'
    finally:
        log = stop(camera)
    assert 'Traceback' not in log


def test_unstamped_images_have_a_real_latency(node, recognizer):
    """A driver that leaves the stamp at 0: latency counts from the image's arrival (it read about
    1.7e12 ms and kept /diagnostics at WARN)."""
    publisher, emotions, _, _ = recognizer
    latencies = []

    def on_diagnostics(msg):     # this recognizer's reports only: the compressed one also reports
        for status in msg.status:
            values = {v.key: v.value for v in status.values}
            if values.get('input topic') == '/hard/image':
                latencies.append(values['last latency (ms)'])
    subscription = node.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 10)

    def answered():
        publisher.publish(image())   # stamp 0
        rclpy.spin_once(node, timeout_sec=0.1)
        return any(e.header.stamp.sec == 0 and e.header.stamp.nanosec == 0 for e in emotions)
    assert spin_until(node, answered)
    # the node sets the latency before it publishes the Emotion; two reports later it is read
    seen = len(latencies)
    assert spin_until(node, lambda: len(latencies) >= seen + 2)
    node.destroy_subscription(subscription)
    assert 0 <= float(latencies[-1]) < 10_000, latencies[-1]
