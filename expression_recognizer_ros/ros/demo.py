"""``make demo``: camera, recognizer and mirror in one process with the YAML parameters, printing each
Emotion and leaving pictures: ``demo.gif`` and ``contact_sheet.png`` (each debug frame beside the robot
face it produced) in the output folder.

``ros2 launch`` is the entry point on a ROS install; this starts the same nodes with the same
parameter file where launch is not available. Input: a webcam when one opens, else 640x480 frames
composed from the bundled public-domain photos.
"""

import argparse
import os
import time

import cv2
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image

from .camera_node import CameraNode
from .image_conversion import image_to_array
from ..core.frames import compose_frames
from ..tools.media import contact_sheet, side_by_side, write_gif
from .mirror_node import MirrorNode
from ..msg import Emotion
from .recognizer_node import RecognizerNode


def default_source(out_dir):
    """A webcam if one opens, else a folder of composed frames written to ``out_dir``."""
    if os.path.exists('/dev/video0'):
        capture = cv2.VideoCapture(0)
        if capture.isOpened():
            capture.release()
            return '0'
    frames_dir = os.path.join(out_dir, 'frames')
    os.makedirs(frames_dir, exist_ok=True)
    for i, frame in enumerate(compose_frames(count=120, smallest=0.4, clip=30)):
        cv2.imwrite(os.path.join(frames_dir, f'frame_{i:03d}.png'), frame)
    return frames_dir


class Recorder(Node):
    """Pairs every debug frame with the robot face showing at that moment."""

    def __init__(self):
        super().__init__('demo_recorder')
        self.face = None
        self.pairs = []
        self.create_subscription(Image, 'robot_face/image', self._on_face, 10)
        self.create_subscription(Image, 'emotion/debug_image', self._on_debug, 10)

    def _on_face(self, msg):
        self.face = image_to_array(msg)

    def _on_debug(self, msg):
        if self.face is not None:
            self.pairs.append(side_by_side(image_to_array(msg), self.face))

    def write(self, out_dir):
        if not self.pairs:
            return []
        step = max(1, len(self.pairs) // 90)   # at most ~90 GIF frames, small enough for a README
        gif, sheet = os.path.join(out_dir, 'demo.gif'), os.path.join(out_dir, 'contact_sheet.png')
        write_gif([cv2.resize(p, (p.shape[1] * 2 // 3, p.shape[0] * 2 // 3), interpolation=cv2.INTER_AREA)
                   for p in self.pairs[::step]], gif, fps=8.0)
        picks = [self.pairs[round(i * (len(self.pairs) - 1) / 11)] for i in range(12)]
        cv2.imwrite(sheet, contact_sheet([cv2.resize(p, (p.shape[1] // 2, p.shape[0] // 2)) for p in picks]))
        return [gif, sheet]


class EmotionPrinter(Node):

    def __init__(self):
        super().__init__('emotion_printer')
        self.create_subscription(Emotion, 'emotion', self._print, 10)
        self.count = 0

    def _print(self, msg):
        self.count += 1
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        if not msg.face_detected:
            print(f'[{stamp:.3f}] no face', flush=True)
            return
        votes = ' '.join(f'{label}:{v}' for label, v in zip(msg.labels, msg.votes) if v)
        roi = msg.face_roi
        print(f'[{stamp:.3f}] {msg.expression:<9} confidence {msg.confidence:.2f}  votes {votes}  '
              f'face {roi.width}x{roi.height}@({roi.x_offset},{roi.y_offset}) by {msg.detector}', flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--params', required=True, help='parameter YAML (config/recognizer.yaml)')
    parser.add_argument('--source', help='camera index, /dev/videoN, video file or image folder')
    parser.add_argument('--model', default='', help='shipped model name or model directory (default: the YAML\'s)')
    parser.add_argument('--seconds', type=float, default=20.0, help='stop after this long (0: until Ctrl-C)')
    parser.add_argument('--out', default='demo_output', help='folder for composed input frames and the pictures')
    args = parser.parse_args(argv)
    source = args.source or default_source(args.out)
    print(f'demo input: {source}', flush=True)
    # The same wiring as launch/recognizer.launch.py: the recognizer's ``image`` is the camera's image_raw.
    model = ['-p', f'recognizer:model_dir:={args.model}'] if args.model else []
    rclpy.init(args=['--ros-args', '--params-file', args.params, '-p', f'camera:source:={source}', *model,
                     '-r', 'recognizer:image:=image_raw'])
    nodes = []
    try:
        nodes = [RecognizerNode(), EmotionPrinter(), CameraNode(), MirrorNode(), Recorder()]
        executor = SingleThreadedExecutor()
        for node in nodes:
            executor.add_node(node)
        end = time.monotonic() + args.seconds if args.seconds > 0 else float('inf')
        while rclpy.ok() and time.monotonic() < end and not nodes[2].finished:
            executor.spin_once(timeout_sec=0.1)
        recognizer = nodes[0]
        print(f'frames received {recognizer.frames_received}, processed {recognizer.frames_processed}, '
              f'dropped (newer frame arrived first) {recognizer.frames_dropped}, '
              f'Emotion messages printed {nodes[1].count}', flush=True)
        for path in nodes[4].write(args.out):
            print(f'wrote {path}', flush=True)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise
        # Ctrl-C shut the context down inside spin_once (rclpy raises RCLError there): a clean exit.
    finally:
        for node in nodes:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == '__main__':
    main()
