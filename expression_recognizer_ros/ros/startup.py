"""The first lines of every node executable, before the heavy imports (OpenCV, rclpy, models)."""

import os
import signal

# what ends a node: launch sends SIGINT, then SIGTERM to a node that has not ended yet
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_quietly_on_stop_signals():
    """
    A Ctrl-C or SIGTERM while a node is still starting ends it at once with status 0 and no
    traceback (launch stops a node that is still importing when a launch ends early); ``main()``
    then takes over the signals once ROS is up (``node_main.init_with_stop_signals``).
    ``os._exit``, not ``sys.exit``: a SystemExit raised by a handler can land where Python
    ignores exceptions (an import's module-lock callback), and the node then started anyway and
    ran on, its stop lost (seen in 1 of 65 starts stopped at 0.05-0.7 s).
    """
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda *_: os._exit(0))
