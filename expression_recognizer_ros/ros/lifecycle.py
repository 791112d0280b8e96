"""
The lifecycle base every node shares (``ManagedNode``), with its ``autostart`` parameter; the
process around a node (signals, exit status) is ``process``.
"""

from collections.abc import Callable

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import TransitionCallbackReturn


class ManagedNode(LifecycleNode):
    """
    A lifecycle node (ros2/demos lifecycle_py): parameters are declared at construction, resources
    taken on configure, data flows while active. Deactivate and shutdown (from any state) both
    call the node's ``stop_flow``, which undoes what ``on_activate`` started. ``autostart``
    (default true) makes the node configure and activate itself at once, under ``ros2 run`` and
    the launch file alike; false (the launch argument ``autostart:=false``) leaves the transitions
    to a lifecycle manager. A configuration that fails is reported in ``failure``: the process
    then ends with that line and status 1, as a plain node's start-up error would.
    """

    def __init__(self, name: str):
        super().__init__(name)
        self.failure: str = ''
        self.finished: bool = False     # set by a node whose input has ended
        self.declare_parameter('autostart', True, ParameterDescriptor(
            description='configure and activate at start; false: wait for lifecycle transitions '
                        '(ros2 lifecycle set, or a lifecycle manager)', read_only=True))

    def configure_or_fail(self, configure: Callable[[], None],
                          errors: tuple[type[Exception], ...]) -> TransitionCallbackReturn:
        """Run ``configure()``; a known error becomes ``failure`` and a FAILURE transition."""
        try:
            configure()
        except errors as exc:
            self.failure = str(exc)
            self.get_logger().error(f'configuration failed: {exc}')
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def stop_flow(self) -> None:
        """Undo ``on_activate`` (subscriptions, timers, workers); safe to call when inactive."""

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self.stop_flow()
        return super().on_deactivate(state)

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self.stop_flow()
        return TransitionCallbackReturn.SUCCESS

    def autostart(self) -> bool:
        """Configure and activate when the ``autostart`` parameter says so; False if it failed."""
        if not self.get_parameter('autostart').value:
            return True
        success = TransitionCallbackReturn.SUCCESS
        return self.trigger_configure() == success and self.trigger_activate() == success
