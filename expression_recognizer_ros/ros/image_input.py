"""
The recognizer's image input as cameras send it: raw sensor_msgs/Image on the image topic, or, the
image_transport way, sensor_msgs/CompressedImage on ``<image topic>/compressed``; with a
reliability that follows the topic's publishers (``auto``) as ``ros2 topic echo`` chooses it.
"""

import functools

from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from ..core.image_codec import compressed_to_array, image_to_array

# transport -> (message type, topic suffix, message -> BGR or gray array), as image_transport names
TRANSPORTS = {'raw': (Image, '', image_to_array),
              'compressed': (CompressedImage, '/compressed', compressed_to_array)}
RELIABILITIES = {'auto': None, 'reliable': ReliabilityPolicy.RELIABLE,
                 'best_effort': ReliabilityPolicy.BEST_EFFORT}
MATCH_PERIOD = 1.0   # seconds between looks at the publishers (auto)


def choose_reliability(offered) -> ReliabilityPolicy | None:
    """
    ros2 topic echo's rule (ros2topic's choose_qos): reliable when every publisher offers it, else
    best effort, which a best-effort publisher needs and every publisher serves; None without any.
    """
    if not offered:
        return None
    if all(policy == ReliabilityPolicy.RELIABLE for policy in offered):
        return ReliabilityPolicy.RELIABLE
    return ReliabilityPolicy.BEST_EFFORT


def _name(policy):
    return policy.name.lower()


class ImageInput:
    """
    One keep-last-1 subscription on the image topic, delivering messages to ``callback``.

    With reliability ``auto`` it looks at the topic's publishers at start, every MATCH_PERIOD
    seconds and at once when a publisher with incompatible QoS appears, and follows
    choose_reliability. Reliable where the publishers offer it: over Fast DDS's default transports
    best effort loses most large frames (README, Cameras). Without publishers it starts reliable
    (the usual camera driver, and ours) and keeps what it has. A change makes the new
    subscription first; it takes over with its first message (skipped if the old one delivered that
    frame already), so the switch loses no frame the old one still receives.
    """

    def __init__(self, node, base_topic, transport, reliability, callback):
        self.msg_type, suffix, self.to_array = TRANSPORTS[transport]
        self.transport, self.auto = transport, RELIABILITIES[reliability] is None
        self.topic = node.resolve_topic_name(base_topic) + suffix
        self._node, self._callback = node, callback
        self._generation, self._pending, self._last_frame = 0, None, None
        policy, reason = RELIABILITIES[reliability], ''
        if self.auto:
            policy, reason = self._choice()
            policy = policy or ReliabilityPolicy.RELIABLE
        self._current = self._subscribe(policy)
        self._log(self.describe() + reason)
        self._timer = node.create_timer(MATCH_PERIOD, self.match) if self.auto else None

    @property
    def reliability(self) -> ReliabilityPolicy:
        """The current subscription's ReliabilityPolicy."""
        return self._current[2]

    def describe(self) -> str:
        """'/topic (transport, reliability[, auto])', for logs and /diagnostics."""
        return (f'{self.topic} ({self.transport}, {_name(self.reliability)}'
                f'{", auto" if self.auto else ""})')

    def _log(self, text):
        self._node.get_logger().info(f'image input {text}')

    def _choice(self):
        """(reliability for the publishers now or None, the reason in words)."""
        offered = [info.qos_profile.reliability
                   for info in self._node.get_publishers_info_by_topic(self.topic)]
        chosen = choose_reliability(offered)
        if chosen is None:
            return None, ': no publisher yet'
        reliable = sum(policy == ReliabilityPolicy.RELIABLE for policy in offered)
        return chosen, (f': {reliable} of {len(offered)} publisher(s) offer reliable')

    def _subscribe(self, policy):
        self._generation += 1
        generation = self._generation
        subscription = self._node.create_subscription(
            self.msg_type, self.topic, functools.partial(self._receive, generation),
            QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=policy),
            event_callbacks=SubscriptionEventCallbacks(
                incompatible_qos=functools.partial(self._incompatible, generation)))
        return generation, subscription, policy

    def match(self) -> None:
        """Follow the publishers (auto): subscribe anew if they call for another reliability."""
        chosen, reason = self._choice()
        if self._pending is not None and self._pending[2] != chosen:
            self._node.destroy_subscription(self._pending[1])
            self._pending = None
        if chosen is None or chosen == self.reliability or self._pending is not None:
            return
        self._pending = self._subscribe(chosen)
        self._log(f'{self.topic}: {_name(self.reliability)} -> {_name(chosen)}{reason}')

    def _incompatible(self, generation, event):
        if self._current is None or generation != self._current[0]:
            return      # destroyed, or an event of the old or the pending subscription
        if self.auto:
            self.match()
        else:
            self._node.get_logger().warning(
                f'a publisher on {self.topic} offers incompatible QoS, so none of its images '
                f'arrive: set reliability to auto (or the one it offers; this is '
                f'{_name(self.reliability)})')

    def _receive(self, generation, msg):
        if self._current is None:
            return        # destroyed while the message was on its way
        stamp = msg.header.stamp
        frame = (stamp.sec, stamp.nanosec, msg.header.frame_id)   # unstamped: never a repeat
        if self._pending is not None and generation == self._pending[0]:
            self._node.destroy_subscription(self._current[1])
            self._current, self._pending = self._pending, None
            if frame == self._last_frame and (stamp.sec or stamp.nanosec):
                return    # the old subscription delivered this one
        elif generation != self._current[0]:
            return        # the old subscription, after the new one took over
        self._last_frame = frame
        self._callback(msg)

    def destroy(self) -> None:
        """Stop following the publishers and unsubscribe."""
        if self._timer is not None:
            self._node.destroy_timer(self._timer)
        for endpoint in (self._current, self._pending):
            if endpoint is not None:
                self._node.destroy_subscription(endpoint[1])
        self._current = self._pending = None
