"""
``make demo``: camera, recognizer and mirror in one process with the YAML parameters, printing each
Emotion and leaving pictures: ``demo.gif`` and ``contact_sheet.png`` (each debug frame beside the
robot face it produced) in the output folder.

``ros2 launch`` is the entry point on a ROS install; this starts the same nodes with the same
parameter file where launch is not available. Input: ``--source`` (your camera, video or photo
folder), else a webcam when one opens, else 640x480 frames composed from the bundled public-domain
photos. Each printed line names its input frame (file name, or frame index of a video or camera).
"""

import argparse
from collections import OrderedDict
import os
import time

import cv2
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image

from .camera_node import CameraNode
from .mirror_node import MirrorNode
from .process import ignore_stop_signals, init_with_stop_signals
from .recognizer_node import RecognizerNode
from ..core.image_codec import image_to_array
from ..core.tracking import STILL_IMAGE_TRACKING
from ..msg import Emotion
from ..tools.media import contact_sheet, side_by_side, write_gif
from ..tools.synthetic import compose_frames

PHOTO_RATE = 2.0   # frames per second from a photo folder: each photo is answered and mirrored
KEEP_FRAME_NAMES = 300    # input frame names remembered for the printer (10 s at 30 Hz)


def default_source(out_dir: str) -> str:
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

    def write(self, out_dir: str) -> list[str]:
        if not self.pairs:
            return []
        step = max(1, len(self.pairs) // 90)   # at most ~90 GIF frames, small enough for a README
        gif, sheet = os.path.join(out_dir, 'demo.gif'), os.path.join(out_dir, 'contact_sheet.png')
        write_gif([cv2.resize(p, (p.shape[1] * 2 // 3, p.shape[0] * 2 // 3),
                              interpolation=cv2.INTER_AREA)
                   for p in self.pairs[::step]], gif, fps=8.0)
        picks = [self.pairs[round(i * (len(self.pairs) - 1) / 11)] for i in range(12)]
        cv2.imwrite(sheet, contact_sheet([cv2.resize(p, (p.shape[1] // 2, p.shape[0] // 2))
                                          for p in picks]))
        return [gif, sheet]


class EmotionPrinter(Node):
    """
    Prints each Emotion with the name of the input frame it answers: the camera tells
    ``remember`` each frame's stamp and name, and the Emotion carries the stamp.
    """

    def __init__(self):
        super().__init__('emotion_printer')
        self.create_subscription(Emotion, 'emotion', self._print, 10)
        self.frame_names: OrderedDict[tuple[int, int], str] = OrderedDict()
        self.count = 0

    def remember(self, stamp: tuple[int, int], name: str) -> None:
        """The camera published frame ``name`` with ``stamp`` (sec, nanosec)."""
        self.frame_names[stamp] = name
        if len(self.frame_names) > KEEP_FRAME_NAMES:
            self.frame_names.popitem(last=False)

    def _print(self, msg):
        self.count += 1
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        name = self.frame_names.get((msg.header.stamp.sec, msg.header.stamp.nanosec), '?')
        if not msg.face_detected:
            print(f'[{stamp:.3f}] {name}: no face', flush=True)
            return
        votes = ' '.join(f'{label}:{v}' for label, v in zip(msg.labels, msg.votes) if v)
        roi = msg.face_roi
        print(f'[{stamp:.3f}] {name}: {msg.expression:<9} confidence {msg.confidence:.2f}  '
              f'votes {votes}  '
              f'face {msg.face_id} {roi.width}x{roi.height}@({roi.x_offset},{roi.y_offset}) of '
              f'{msg.num_faces} by {msg.detector}', flush=True)


def main(argv: list[str] | None = None) -> None:
    """Run the demo: parse the arguments, start the nodes, spin, and write the pictures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--params', required=True, help='parameter YAML (config/recognizer.yaml)')
    parser.add_argument('--source', help='camera index, /dev/videoN, video file or image folder')
    parser.add_argument('--loop', choices=('true', 'false'), default='true',
                        help='false: stop at the end of a video file or image folder')
    parser.add_argument('--rate', type=float, default=0.0,
                        help="frames per second to publish; 0: a video's own rate, "
                             '2 for photo folders (each photo answered and shown), else 30')
    parser.add_argument('--model', default='',
                        help="shipped model name or model directory (default: the YAML's)")
    parser.add_argument('--seconds', type=float, default=20.0,
                        help='stop after this long (0: until Ctrl-C)')
    parser.add_argument('--out', default='demo_output',
                        help='folder for composed input frames and the pictures')
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    source = args.source or default_source(args.out)
    # Your photo folder: unrelated stills; the composed default frames are a stream (30 Hz).
    photos = bool(args.source) and os.path.isdir(source)
    rate = args.rate or (PHOTO_RATE if photos else 0.0)
    print(f'demo input: {source}', flush=True)
    # The same wiring as launch/recognizer.launch.py: the recognizer's ``image`` is the camera's
    # image_raw.
    model = ['-p', f'recognizer:model_dir:={args.model}'] if args.model else []
    # Photos of a folder are unrelated stills: every face reported at once, no track across them.
    still = []
    if photos:
        for name in ('confirm_after', 'max_missed', 'time_constant'):
            value = getattr(STILL_IMAGE_TRACKING, name)
            still += ['-p', f'recognizer:tracking.{name}:={value}']
    stop = init_with_stop_signals(['--ros-args', '--params-file', args.params,
                                   '-p', f'camera:source:={source}',
                                   '-p', f'camera:loop:={args.loop}',
                                   '-p', f'camera:frame_rate:={rate}', *model, *still,
                                   '-r', 'recognizer:image:=image_raw'])
    nodes = []
    try:
        printer, recorder = EmotionPrinter(), Recorder()
        recognizer, camera = RecognizerNode(), CameraNode(on_frame=printer.remember)
        mirror = MirrorNode()
        nodes = [recognizer, printer, camera, mirror, recorder]
        for node in (recognizer, camera, mirror):
            if not node.autostart():
                print(f'demo: {node.failure}', flush=True)
                raise SystemExit(1)
        executor = SingleThreadedExecutor()
        for node in nodes:
            executor.add_node(node)
        end = time.monotonic() + args.seconds if args.seconds > 0 else float('inf')
        while not stop.is_set() and time.monotonic() < end and not camera.finished:
            executor.spin_once(timeout_sec=0.1)
        settle = time.monotonic() + 5.0   # the input ended: the answers to its last frames

        def busy():
            done = (recognizer.frames_processed + recognizer.frames_dropped
                    + recognizer.frames_failed)
            return done < recognizer.frames_received or printer.count < recognizer.frames_processed
        while not stop.is_set() and time.monotonic() < settle and busy():
            executor.spin_once(timeout_sec=0.1)
        print(f'frames received {recognizer.frames_received}, '
              f'processed {recognizer.frames_processed}, '
              f'dropped (newer frame arrived first) {recognizer.frames_dropped}, '
              f'Emotion messages printed {printer.count}', flush=True)
        for path in recorder.write(args.out):
            print(f'wrote {path}', flush=True)
    finally:
        ignore_stop_signals()
        for node in nodes:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == '__main__':
    main()
