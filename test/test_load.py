"""Load: a publisher at twice the recognizer's processing rate for 60 s, between processes. The node
must stay current (newest frame first, drops counted), with bounded latency and flat memory. Prints
the figures; bounds are loose, since this is a shared machine, not a benchmark."""

import time

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image

from expression_recognizer_ros.image_conversion import array_to_image_fields
from expression_recognizer_ros.media import compose_frames
from expression_recognizer_ros.msg import Emotion
from test_ros import PARAMS, node, start, stop  # noqa: F401 (node is a fixture)

SECONDS = 60


def rss_mb(pid):
    with open(f'/proc/{pid}/status') as f:
        return next(int(line.split()[1]) for line in f if line.startswith('VmRSS')) / 1024


def test_twice_the_processing_rate_for_a_minute(node):  # noqa: F811
    frames = [array_to_image_fields(f) for f in compose_frames(count=60, smallest=0.4, clip=30)]
    publisher = node.create_publisher(Image, 'load/image', 10)
    latencies, stats = [], {}
    clock = node.get_clock()

    def on_emotion(msg):
        latencies.append(clock.now().nanoseconds * 1e-9 - msg.header.stamp.sec - msg.header.stamp.nanosec * 1e-9)
    node.create_subscription(Emotion, 'load/emotion', on_emotion, 50)
    node.create_subscription(DiagnosticArray, '/diagnostics', lambda m: stats.update(
        {v.key: v.value for s in m.status if s.name == 'recognizer: expression recognition' for v in s.values}), 10)
    recognizer = start('recognizer_node', '--params-file', PARAMS, '-r', 'image:=load/image',
                       '-r', 'emotion:=load/emotion')
    sent = [0]

    def publish():
        encoding, height, width, step, data = frames[sent[0] % len(frames)]
        msg = Image(encoding=encoding, height=height, width=width, step=step, data=data)
        msg.header.stamp = clock.now().to_msg()
        publisher.publish(msg)
        sent[0] += 1

    def run(rate, seconds):
        timer = node.create_timer(1.0 / rate, publish)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.01)
        node.destroy_timer(timer)

    try:
        run(100.0, 8.0)                                  # warm up, and measure the processing capacity
        assert latencies, 'no Emotion during warm-up'
        rate = float(stats['processing rate (fps)'])
        latencies.clear()
        before, dropped_before, sent_before = rss_mb(recognizer.pid), int(stats['frames dropped']), sent[0]
        run(2 * rate, SECONDS)
        after, dropped = rss_mb(recognizer.pid), int(stats['frames dropped']) - dropped_before
    finally:
        log = stop(recognizer)
    lat = np.array(latencies) * 1e3
    print(f'\nprocessing rate {rate:.1f} fps; published {sent[0] - sent_before} frames at {2 * rate:.1f} Hz for '
          f'{SECONDS} s; Emotion received {len(lat)}; dropped by the node (newest first) {dropped}, before it '
          f'(keep-last-1 queue) {sent[0] - sent_before - len(lat) - dropped}; latency ms p50 '
          f'{np.median(lat):.1f}, p99 {np.percentile(lat, 99):.1f}, max {lat.max():.1f}; RSS {before:.1f} -> '
          f'{after:.1f} MB')
    assert 'Traceback' not in log
    assert len(lat) > 0.5 * rate * SECONDS           # it kept processing ...
    assert dropped > 0 and len(lat) + dropped <= sent[0] - sent_before   # ... the newest frame, counting drops
    assert lat.max() < 1000                          # no queue: latency stays bounded
    assert after - before < 30                       # no growth beyond allocator noise
