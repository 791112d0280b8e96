"""ROS 2 node: Emotion on ``emotion`` in, the robot's mirrored face on ``robot_face/image`` out.

The consumer a robot builder would otherwise write, and the one to copy: smoothing so the face does
not twitch on single-frame noise, neutral again when nobody is there, an image at a steady rate.
"""

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from sensor_msgs.msg import Image

from ..core.face_rendering import render_face
from .image_conversion import array_to_image_fields
from ..msg import Emotion
from .node_main import run_node
from ..core.smoothing import ExpressionSmoother


class MirrorNode(Node):

    def __init__(self):
        super().__init__('mirror')
        params = {
            'window': (5, 'faces in the confidence-weighted vote'),
            'hold': (3, 'faces in a row an expression must lead the vote before the robot shows it'),
            'relax_after': (2.0, 'seconds without a face before the robot relaxes to neutral'),
            'publish_rate': (10.0, 'robot face images per second'),
            'width': (320, 'robot face image width'),
            'height': (240, 'robot face image height'),
        }
        for name, (default, description) in params.items():
            self.declare_parameter(name, default, ParameterDescriptor(description=description, read_only=True))
        get = lambda name: self.get_parameter(name).value  # noqa: E731
        if not get('publish_rate') > 0 or get('width') < 32 or get('height') < 32:
            raise ValueError('publish_rate must be > 0, width and height >= 32')
        self.smoother = ExpressionSmoother(get('window'), get('hold'), get('relax_after'))
        self.size = (get('width'), get('height'))
        self.subscription = self.create_subscription(Emotion, 'emotion', self._on_emotion, 10)
        self.publisher = self.create_publisher(Image, 'robot_face/image', 1)
        self.create_timer(1.0 / get('publish_rate'), self._publish)
        self.get_logger().info(f'mirroring {self.subscription.topic_name} on {self.publisher.topic_name}')

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
    run_node(MirrorNode, 'mirror', (ValueError,), args)


if __name__ == '__main__':
    main()
