"""ROS 2 node: Emotion on ``emotion`` in, the robot's mirrored face on ``robot_face/image`` out.

The consumer a robot builder would otherwise write, and the one to copy: smoothing so the face does
not twitch on single-frame noise, neutral again when nobody is there, an image at a steady rate.
"""

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.lifecycle import TransitionCallbackReturn
from sensor_msgs.msg import Image

from ..core.face_rendering import render_face
from ..core.smoothing import ExpressionSmoother
from ..msg import Emotion
from .image_conversion import array_to_image_fields
from .node_main import ManagedNode, run_node

PARAMETERS = {
    'window': (5, 'faces in the confidence-weighted vote'),
    'hold': (3, 'faces in a row an expression must lead the vote before the robot shows it'),
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
            self.declare_parameter(name, default, ParameterDescriptor(description=description, read_only=True))
        self.timer = None

    def on_configure(self, state):
        return self.configure_or_fail(self._configure, (ValueError,))

    def _configure(self):
        get = lambda name: self.get_parameter(name).value  # noqa: E731
        if not get('publish_rate') > 0 or get('width') < 32 or get('height') < 32:
            raise ValueError('publish_rate must be > 0, width and height >= 32')
        self.smoother = ExpressionSmoother(get('window'), get('hold'), get('relax_after'))
        self.size, self.period = (get('width'), get('height')), 1.0 / get('publish_rate')
        self.subscription = self.create_subscription(Emotion, 'emotion', self._on_emotion, 10)
        self.publisher = self.create_lifecycle_publisher(Image, 'robot_face/image', 1)

    def on_activate(self, state):
        self.timer = self.create_timer(self.period, self._publish)
        self.get_logger().info(f'mirroring {self.subscription.topic_name} on {self.publisher.topic_name}')
        return super().on_activate(state)

    def on_deactivate(self, state):
        self.destroy_timer(self.timer)
        return super().on_deactivate(state)

    def on_cleanup(self, state):
        self.destroy_subscription(self.subscription)
        self.destroy_lifecycle_publisher(self.publisher)
        return TransitionCallbackReturn.SUCCESS

    def _now(self):
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_emotion(self, msg):
        self.smoother.update(msg.expression if msg.face_detected else None, msg.confidence, self._now())

    def _publish(self):
        encoding, height, width, step, data = array_to_image_fields(
            render_face(self.smoother.tick(self._now()), *self.size))
        image = Image(encoding=encoding, height=height, width=width, step=step, data=data)
        image.header.stamp = self.get_clock().now().to_msg()
        image.header.frame_id = 'robot_face'
        self.publisher.publish(image)


def main(args=None):
    run_node(MirrorNode, 'mirror', args)


if __name__ == '__main__':
    main()
