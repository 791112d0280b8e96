"""The first lines of every node executable, before the heavy imports (OpenCV, rclpy, models)."""

import signal
import sys

# what ends a node: launch sends SIGINT, then SIGTERM to a node that has not ended yet
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_quietly_on_stop_signals():
    """
    A Ctrl-C or SIGTERM while a node is still starting ends it with status 0 and no traceback
    (launch stops a node that is still importing when a launch ends early); ``main()`` then takes
    over the signals once ROS is up (``node_main.init_with_stop_signals``).
    """
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda *_: sys.exit(0))
