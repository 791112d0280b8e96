"""The ``main()`` of every node: rclpy.init/try/finally as in ros2/examples, a clean exit on Ctrl-C or
SIGTERM, and a start-up error as one line and exit status 1 instead of a traceback."""

import signal
import threading

import rclpy
from rclpy.signals import SignalHandlerOptions

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def init_with_stop_signals(args=None):
    """rclpy.init, with SIGINT and SIGTERM only asking the spin loop to stop (the returned event).

    rclpy's own handlers raise KeyboardInterrupt wherever the main thread is. A terminal's Ctrl-C under
    ``ros2 launch`` arrives twice (the terminal signals the process group, launch forwards it again), and
    the second one landed inside destroy_node: tracebacks, and an abort from a half-joined thread. Here
    every further signal is a no-op, so cleanup always runs to the end and the exit status is 0."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda *_: stop.set())
    return stop


def ignore_stop_signals():
    """From cleanup on: Python restores the default handlers while it exits, and a late second Ctrl-C
    then killed the process (exit -2); ignored signals stay ignored."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def run_node(node_class, name, startup_errors, args=None):
    stop = init_with_stop_signals(args)
    node = None
    try:
        node = node_class()
        while not stop.is_set() and not getattr(node, 'finished', False):
            rclpy.spin_once(node, timeout_sec=0.1)
    except startup_errors as exc:
        print(f'{name}: {exc}', flush=True)
        raise SystemExit(1)
    finally:
        ignore_stop_signals()
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
