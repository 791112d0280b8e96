"""
ROS 2 lifecycle node: publishes ``image_raw`` (bgr8; or JPEG on ``image_raw/compressed``, the
image_transport way) and ``camera_info`` from a device, video file, image folder or recorded bag
(its image topic at the recorded rate, with the recorded stamps). configure opens the source,
activate starts publishing, deactivate pauses, cleanup releases the source.
"""

from collections.abc import Callable
import time

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.lifecycle import LifecyclePublisher, TransitionCallbackReturn
from rclpy.time import Time
from rclpy.timer import Timer
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from .diagnostics import DiagnosticsPublisher
from .image_conversion import array_to_compressed, array_to_image
from .lifecycle import ManagedNode
from .process import run_node
from ..core.frame_source import CameraError, FrameSource
from ..core.health import camera_level, Rates
from ..tools.bag_reading import BagFrameSource, open_source

DEFAULT_RATE = 30.0       # frames per second for devices and image folders when frame_rate is 0
PARAMETERS = {
    'source': ('0', 'camera index or /dev/videoN (through V4L2 on Linux), a video file, a folder '
                    'of images played in name order, or a recorded bag (.mcap, .db3, .bag, or a '
                    'rosbag2 folder)'),
    'bag_topic': ('', "a bag's image topic to play; empty: its only sensor_msgs/Image or "
                      'CompressedImage topic'),
    'frame_rate': (0.0, "frames per second to publish; 0: a video file's or bag's own rate, "
                        'else 30'),
    'width': (640, 'requested capture width (devices only; 0 keeps the default)'),
    'height': (480, 'requested capture height (devices only; 0 keeps the default)'),
    'frame_id': ('camera', 'frame_id of the published images'),
    'loop': (True, 'restart a video file or image folder at its end; else exit there'),
    'retry': (False, 'keep retrying a camera that cannot be opened or stops delivering'),
    'transport': ('raw', 'raw: sensor_msgs/Image on image_raw; compressed: sensor_msgs/'
                         'CompressedImage, JPEG "bgr8; jpeg compressed bgr8", on '
                         'image_raw/compressed (as image_transport names and formats it)'),
    'jpeg_quality': (95, "JPEG quality, 1-100, with transport compressed (95: image_transport's "
                         'default)'),
}
# transport -> (message type, topic suffix), as image_transport names them
TRANSPORTS = {'raw': (Image, ''), 'compressed': (CompressedImage, '/compressed')}


class CameraNode(ManagedNode):
    """Publishes a device's, video file's or image folder's frames on ``image_raw``."""

    def __init__(self, on_frame: Callable[[tuple[int, int], str], None] | None = None):
        """``on_frame(stamp, name)``: told each frame's (sec, nanosec) stamp and source name."""
        super().__init__('camera')
        for name, (default, description) in PARAMETERS.items():
            self.declare_parameter(
                name, default, ParameterDescriptor(description=description, read_only=True))
        self.on_frame = on_frame
        # configure: the settings, the source and the publishers
        self.frame_id: str = ''
        self.retry: bool = False
        self.transport: str = 'raw'
        self.jpeg_quality: int = 95
        self.frame_rate: float = DEFAULT_RATE
        self._open_args: tuple = ()    # open_source's: source, width, height, loop, bag_topic
        self.source: FrameSource | BagFrameSource | None = None
        self.image_publisher: LifecyclePublisher | None = None
        self.info_publisher: LifecyclePublisher | None = None
        self.diagnostics: DiagnosticsPublisher | None = None
        self._rates: Rates | None = None
        # activate: the timer that publishes
        self.timer: Timer | None = None
        self.frames_published = 0

    def on_configure(self, state) -> TransitionCallbackReturn:
        return self.configure_or_fail(self._configure, (CameraError, ValueError))

    def _configure(self):
        get = lambda name: self.get_parameter(name).value  # noqa: E731
        if not get('frame_rate') >= 0:
            raise ValueError(f"frame_rate must be >= 0 (0: the video's own rate), "
                             f'got {get("frame_rate")}')
        if get('transport') not in TRANSPORTS:
            raise ValueError(f'transport must be one of {", ".join(TRANSPORTS)}, '
                             f'got {get("transport")!r}')
        if not 1 <= get('jpeg_quality') <= 100:
            raise ValueError(f'jpeg_quality must be in [1, 100], got {get("jpeg_quality")}')
        self.frame_id = get('frame_id')
        self.retry = get('retry')
        self.transport, self.jpeg_quality = get('transport'), get('jpeg_quality')
        self._open_args = (get('source'), get('width'), get('height'), get('loop'),
                           get('bag_topic'))
        self._open()
        msg_type, suffix = TRANSPORTS[self.transport]
        self.image_publisher = self.create_lifecycle_publisher(
            msg_type, self.resolve_topic_name('image_raw') + suffix, 10)
        self.info_publisher = self.create_lifecycle_publisher(CameraInfo, 'camera_info', 10)
        self.frame_rate = get('frame_rate') or (self.source and self.source.fps) or DEFAULT_RATE
        self._rates = Rates(time.monotonic())
        self.diagnostics = DiagnosticsPublisher(self, 'camera', get('source'), 1.0,
                                                self._diagnostics_report)

    def on_activate(self, state) -> TransitionCallbackReturn:
        self.timer = self.create_timer(1.0 / self.frame_rate, self._tick)
        self.get_logger().info(f'publishing {self.image_publisher.topic_name} '
                               f'from {self._open_args[0]!r} at {self.frame_rate:g} Hz')
        return super().on_activate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self.diagnostics.destroy()
        for publisher in (self.image_publisher, self.info_publisher):
            self.destroy_lifecycle_publisher(publisher)
        if self.source is not None:
            self.source.release()
            self.source = None
        return TransitionCallbackReturn.SUCCESS

    def stop_flow(self) -> None:
        if self.timer is not None:
            self.destroy_timer(self.timer)
            self.timer = None

    def _open(self):
        try:
            self.source = open_source(*self._open_args)
        except CameraError:
            if not self.retry:
                raise
            self.source = None

    def _tick(self):
        if self.source is None:
            self._open()
            if self.source is None:
                self.get_logger().warning(f'waiting for {self._open_args[0]!r}',
                                       throttle_duration_sec=5.0)
                return
        try:
            frame = self.source.read()
        except CameraError as exc:
            if not self.retry:
                self.failure = str(exc)   # the process ends with this line and status 1
                return
            self.get_logger().warning(f'{exc}; retrying', throttle_duration_sec=5.0)
            self.source.release()
            self.source = None
            return
        if frame is None:
            self.get_logger().info('end of input reached; stopping')
            self.finished = True
            self.stop_flow()
            return
        recorded = getattr(self.source, 'stamp', None)   # a bag's: replayed as recorded
        stamp = (Time(nanoseconds=recorded).to_msg() if recorded is not None
                 else self.get_clock().now().to_msg())
        image = (array_to_compressed(frame, self.jpeg_quality) if self.transport == 'compressed'
                 else array_to_image(frame))
        image.header.stamp, image.header.frame_id = stamp, self.frame_id
        info = CameraInfo(width=frame.shape[1], height=frame.shape[0])
        info.header = image.header
        self.image_publisher.publish(image)
        self.info_publisher.publish(info)
        self.frames_published += 1
        if self.on_frame is not None:
            self.on_frame((stamp.sec, stamp.nanosec), self.source.name)

    def _diagnostics_report(self):
        rate = self._rates.update(time.monotonic(), published=self.frames_published)['published']
        level, message = camera_level(rate, self.frame_rate, self.source is None)
        return level, message, {'publishing rate (fps)': f'{rate:.1f}',
                                'frames published': self.frames_published,
                                'topic': self.image_publisher.topic_name,
                                'source': self._open_args[0]}


def main(args: list[str] | None = None) -> None:
    """Run the camera node (the ``camera_node`` executable)."""
    run_node(CameraNode, 'camera', args)


if __name__ == '__main__':
    main()
