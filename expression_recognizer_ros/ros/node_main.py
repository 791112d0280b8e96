"""
What every node shares: the lifecycle base with its ``autostart`` parameter, and ``main()`` as in
ros2/examples (rclpy.init/try/finally) with a clean exit on Ctrl-C or SIGTERM and a configuration
error as one line and exit status 1 instead of a traceback.
"""

import signal
import threading

from rcl_interfaces.msg import ParameterDescriptor
import rclpy
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.signals import SignalHandlerOptions

from .startup import STOP_SIGNALS


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

    def __init__(self, name):
        super().__init__(name)
        self.failure = ''
        self.finished = False     # set by a node whose input has ended
        self.declare_parameter('autostart', True, ParameterDescriptor(
            description='configure and activate at start; false: wait for lifecycle transitions '
                        '(ros2 lifecycle set, or a lifecycle manager)', read_only=True))

    def configure_or_fail(self, configure, errors):
        """Run ``configure()``; a known error becomes ``failure`` and a FAILURE transition."""
        try:
            configure()
        except errors as exc:
            self.failure = str(exc)
            self.get_logger().error(f'configuration failed: {exc}')
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def stop_flow(self):
        """Undo ``on_activate`` (subscriptions, timers, workers); safe to call when inactive."""

    def on_deactivate(self, state):
        self.stop_flow()
        return super().on_deactivate(state)

    def on_shutdown(self, state):
        self.stop_flow()
        return TransitionCallbackReturn.SUCCESS

    def autostart(self):
        """Configure and activate when the ``autostart`` parameter says so; False if it failed."""
        if not self.get_parameter('autostart').value:
            return True
        success = TransitionCallbackReturn.SUCCESS
        return self.trigger_configure() == success and self.trigger_activate() == success


def init_with_stop_signals(args=None):
    """
    rclpy.init, with SIGINT and SIGTERM only asking the spin loop to stop (the returned event).

    rclpy's own handlers raise KeyboardInterrupt wherever the main thread is. A terminal's Ctrl-C
    under ``ros2 launch`` arrives twice (the terminal signals the process group, launch forwards it
    again), and the second one landed inside destroy_node: tracebacks, and an abort from a
    half-joined thread. Here every further signal is a no-op, so cleanup always runs to the end and
    the exit status is 0.
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda *_: stop.set())
    return stop


def ignore_stop_signals():
    """
    From cleanup on: Python restores the default handlers while it exits, and a late second Ctrl-C
    then killed the process (exit -2); ignored signals stay ignored.
    """
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def run_node(node_class, name, args=None):
    """A node's process: spin until a stop signal, its end or its failure (then exit 1)."""
    stop = init_with_stop_signals(args)
    node = None
    try:
        node = node_class()
        node.autostart()
        while not stop.is_set() and not node.finished and not node.failure:
            rclpy.spin_once(node, timeout_sec=0.1)
        if node.failure:
            print(f'{name}: {node.failure}', flush=True)
            raise SystemExit(1)
    finally:
        ignore_stop_signals()
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
