"""
ROS 2 node: Emotion on ``emotion`` in; the robot's mirrored face on ``robot_face/image`` and the
expression it shows on ``robot_face/expression`` (an Emotion) out.

The consumer a robot builder would otherwise write, and the one to copy: it follows the attended
person (``Emotion.face_id``; another person restarts the smoothing), smooths in seconds so the face
does not twitch on single-frame noise at any frame rate, relaxes to neutral when nobody is there,
and publishes at a steady rate: the image for a screen, the message for other consumers (speech,
behaviour) that want the robot's expression rather than the camera's.
"""

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.lifecycle import LifecyclePublisher, TransitionCallbackReturn
from rclpy.subscription import Subscription
from rclpy.timer import Timer
from sensor_msgs.msg import Image

from .image_conversion import array_to_image
from .lifecycle import ManagedNode
from .process import run_node
from ..core.mirror_face import render_face
from ..core.mirror_smoothing import ExpressionSmoother
from ..msg import Emotion

PARAMETERS = {
    'window': (1.0, 'seconds of faces in the confidence-weighted vote'),
    'hold': (0.5, 'seconds an expression must lead the vote before the robot shows it'),
    'relax_after': (2.0, 'seconds without a face before the robot relaxes to neutral'),
    'publish_rate': (10.0, 'robot face images per second'),
    'width': (320, 'robot face image width'),
    'height': (240, 'robot face image height'),
}


class MirrorNode(ManagedNode):
    """A lifecycle node like the others: configure takes the settings, activate shows the face."""

    def __init__(self):
        super().__init__('mirror')
        for name, (default, description) in PARAMETERS.items():
            self.declare_parameter(name, default, ParameterDescriptor(description=description,
                                                                      read_only=True))
        # configure: the settings, the smoother and the publishers
        self.smoother: ExpressionSmoother | None = None
        self.size: tuple[int, int] = (0, 0)     # width, height of the robot face
        self.period: float = 0.0                # seconds between robot faces
        self.following: str = ''                # the face_id the robot mirrors
        self.publisher: LifecyclePublisher | None = None
        self.expression_publisher: LifecyclePublisher | None = None
        # activate: Emotions in, faces out
        self.timer: Timer | None = None
        self.subscription: Subscription | None = None

    def on_configure(self, state) -> TransitionCallbackReturn:
        return self.configure_or_fail(self._configure, (ValueError,))

    def _configure(self):
        get = lambda name: self.get_parameter(name).value  # noqa: E731
        if not get('publish_rate') > 0 or get('width') < 32 or get('height') < 32:
            raise ValueError('publish_rate must be > 0, width and height >= 32')
        self.smoother = ExpressionSmoother(get('window'), get('hold'), get('relax_after'))
        self.size, self.period = (get('width'), get('height')), 1.0 / get('publish_rate')
        self.following = ''
        self.publisher = self.create_lifecycle_publisher(Image, 'robot_face/image', 1)
        self.expression_publisher = self.create_lifecycle_publisher(
            Emotion, 'robot_face/expression', 10)

    def on_activate(self, state) -> TransitionCallbackReturn:
        # Subscribed only while active: what arrived while inactive would be stale by now.
        self.subscription = self.create_subscription(Emotion, 'emotion', self._on_emotion, 10)
        self.timer = self.create_timer(self.period, self._publish)
        self.get_logger().info(f'mirroring {self.subscription.topic_name} '
                               f'on {self.publisher.topic_name}')
        return super().on_activate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self.destroy_lifecycle_publisher(self.publisher)
        self.destroy_lifecycle_publisher(self.expression_publisher)
        return TransitionCallbackReturn.SUCCESS

    def stop_flow(self) -> None:
        """No more Emotions in, no more faces out."""
        if self.timer is not None:
            self.destroy_timer(self.timer)
            self.timer = None
        if self.subscription is not None:
            self.destroy_subscription(self.subscription)
            self.subscription = None

    def _now(self):
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_emotion(self, msg):
        now = self._now()
        if msg.face_detected:
            if msg.face_id != self.following:
                self.smoother.restart()      # another person: their own expressions from now on
                self.following = msg.face_id
        expression = msg.expression if msg.face_detected else None
        self.smoother.update(expression, msg.confidence, now)

    def _publish(self):
        now = self._now()
        shown = self.smoother.tick(now)
        image = array_to_image(render_face(shown, *self.size))
        image.header.stamp = self.get_clock().now().to_msg()
        image.header.frame_id = 'robot_face'
        self.publisher.publish(image)
        if self.smoother.idle(now):
            self.following = ''          # relaxed: nobody followed
        # The robot's own expression: face_detected/face_id say whom it is mirroring (nobody: false
        # and ""), expression what its face shows now; the scores stay empty.
        self.expression_publisher.publish(Emotion(
            header=image.header, face_detected=bool(self.following), face_id=self.following,
            expression=shown, model='mirror'))


def main(args: list[str] | None = None) -> None:
    """Run the mirror node until shutdown."""
    run_node(MirrorNode, 'mirror', args)


if __name__ == '__main__':
    main()
