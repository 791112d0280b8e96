"""
How a node process starts and stops: every node executable, the demo and ``python -m`` run through
here, and this is the one place that explains the signals.

- While starting (importing OpenCV, rclpy, the model): SIGINT or SIGTERM ends the process at once
  with status 0 and no traceback; launch stops a node that is still importing when a launch ends
  early. ``os._exit``, not ``sys.exit``: a SystemExit raised by a handler can land where Python
  ignores exceptions (an import's module-lock callback), and the stop would be lost.
- Once ROS is up: a stop signal only asks the spin loop to stop. rclpy's own handlers raise
  KeyboardInterrupt wherever the main thread is, and a terminal's Ctrl-C under ``ros2 launch``
  arrives twice (the terminal signals the process group, launch forwards it again): the second
  would land inside destroy_node.
- From cleanup on: stop signals are ignored. Python restores the default handlers while it exits,
  where a late second Ctrl-C would kill the process; ignored signals stay ignored.

So a stopped node exits with status 0 and cleans up to the end; a configuration that fails ends it
with one line and status 1. rclpy is imported inside the functions: this module is imported before
the heavy imports, to install the first handlers as early as possible.

A node executable that dies in native code (OpenCV, DDS: a signal such as SIGSEGV) prints each
thread's Python stack first (faulthandler), so launch's "exit code -11" says where it happened.
"""

import faulthandler
import importlib
import os
import signal
import threading

# what ends a node: launch sends SIGINT, then SIGTERM to a node that has not ended yet
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_executable(module: str, class_name: str, name: str) -> None:
    """
    A node executable (scripts/*_node): stop signals end it quietly from its first line, then
    ``ros.<module>`` is imported and its ``class_name`` node runs as ``name`` (see ``run_node``).
    """
    faulthandler.enable()
    exit_quietly_on_stop_signals()
    node_module = importlib.import_module(f'{__package__}.{module}')
    run_node(getattr(node_module, class_name), name)


def exit_quietly_on_stop_signals() -> None:
    """Until ROS is up: a stop signal ends the process at once with status 0."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda *_: os._exit(0))


def init_with_stop_signals(args: list[str] | None = None) -> threading.Event:
    """rclpy.init; SIGINT and SIGTERM then only set the returned event, the spin loop's stop."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda *_: stop.set())
    return stop


def ignore_stop_signals() -> None:
    """From cleanup on: further stop signals change nothing, so cleanup runs to the end."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def run_node(node_class: type, name: str, args: list[str] | None = None) -> None:
    """
    A node's process: spin until a stop signal, the node's end (``finished``) or its failure
    (``failure``: printed as ``name: failure``, exit status 1).
    """
    import rclpy

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
