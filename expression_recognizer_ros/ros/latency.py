"""
ROS end-to-end latency: 640x480 frames published at a fixed rate, stamp to Emotion arrival.

By default this process publishes the frames and receives the Emotions while the recognizer runs
as its own process, so every frame crosses DDS twice, as on a robot. ``--one-process``: all in one
process with one executor (recognition runs in the node's worker thread; intra-process transport
still goes through DDS here). ``--transport`` sets FASTDDS_BUILTIN_TRANSPORTS for every
participant (Fast DDS's default is UDP plus shared memory; LARGE_DATA adds TCP for large samples
and prefers shared memory).

  python -P -m expression_recognizer_ros.ros.latency --params config/recognizer.yaml \
      --rate 30 --seconds 20 --transport LARGE_DATA
"""

import argparse
import os
import subprocess
import sys
import time

import numpy as np


class StampedFrames:
    """
    Publishes 640x480 frames (a face drifting in 1-s clips) in turn, stamped when sent, and
    collects the latency of every Emotion that answers one. Shared with the load test.
    """

    def __init__(self, node, image_topic, emotion_topic):
        from sensor_msgs.msg import Image

        from ..core.image_codec import array_to_image_fields
        from ..msg import Emotion
        from ..tools.synthetic import compose_frames
        self._image, self._clock = Image, node.get_clock()
        self._frames = [array_to_image_fields(f)
                        for f in compose_frames(count=60, smallest=0.4, clip=30)]
        self._publisher = node.create_publisher(Image, image_topic, 10)
        self.sent, self.latencies_ms, self.stamps = 0, [], []
        node.create_subscription(Emotion, emotion_topic, self._on_emotion, 100)

    def publish(self) -> None:
        encoding, height, width, step, data = self._frames[self.sent % len(self._frames)]
        msg = self._image(encoding=encoding, height=height, width=width, step=step, data=data)
        msg.header.stamp = self._clock.now().to_msg()
        self._publisher.publish(msg)
        self.sent += 1

    def _on_emotion(self, msg):
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        self.latencies_ms.append((self._clock.now().nanoseconds * 1e-9 - stamp) * 1e3)
        self.stamps.append(stamp)


def main(argv=None) -> None:
    """Measure the end-to-end latency (see the module's docstring for the modes)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rate', type=float, default=30.0, help='frames per second published')
    parser.add_argument('--seconds', type=float, default=20.0)
    parser.add_argument('--transport', default='',
                        help='FASTDDS_BUILTIN_TRANSPORTS value (e.g. LARGE_DATA, SHM)')
    parser.add_argument('--one-process', action='store_true', help='recognizer in this process')
    parser.add_argument('--params', required=True, help='parameter YAML (config/recognizer.yaml)')
    args = parser.parse_args(argv)
    if args.transport:
        os.environ['FASTDDS_BUILTIN_TRANSPORTS'] = args.transport   # before any participant exists

    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    ros_args = ['--ros-args', '--params-file', args.params,
                '-r', 'recognizer:image:=latency/image',
                '-r', 'recognizer:emotion:=latency/emotion']
    rclpy.init(args=ros_args if args.one_process else None)
    child, nodes = None, []
    try:
        node = rclpy.create_node('latency_probe')
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        if args.one_process:
            from .recognizer_node import RecognizerNode
            recognizer = RecognizerNode()
            nodes.append(recognizer)
            if not recognizer.autostart():
                raise SystemExit(f'recognizer: {recognizer.failure}')
            executor.add_node(recognizer)
        else:
            child = subprocess.Popen([sys.executable, '-P', '-m',
                                      'expression_recognizer_ros.ros.recognizer_node',
                                      *[a.replace('recognizer:', '') for a in ros_args]])
        frames = StampedFrames(node, 'latency/image', 'latency/emotion')
        latencies = frames.latencies_ms
        timer = node.create_timer(1.0 / args.rate, frames.publish)
        end = time.monotonic() + 30
        # wait for discovery and the first answer
        while not latencies and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        start_count, start = frames.sent, node.get_clock().now().nanoseconds * 1e-9
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        timer.cancel()
        sent = frames.sent - start_count
        lat = np.array([ms for ms, stamp in zip(latencies, frames.stamps) if stamp >= start])
        if not lat.size:
            raise SystemExit('no Emotion received: is the recognizer running? (see its log above)')
        mode = 'one process' if args.one_process else 'between processes'
        print(f'{mode}, transport {args.transport or "Fast DDS default"}: '
              f'{sent} frames of 640x480 at {args.rate:g} Hz, {len(lat)} Emotions '
              f'({1 - len(lat) / max(sent, 1):.1%} of frames not answered); '
              f'latency ms p50 {np.median(lat):.1f}, p90 {np.percentile(lat, 90):.1f}, '
              f'p99 {np.percentile(lat, 99):.1f}, max {lat.max():.1f}', flush=True)
    finally:
        for n in nodes:
            n.destroy_node()
        if child is not None:
            child.terminate()
            child.wait(timeout=10)
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
