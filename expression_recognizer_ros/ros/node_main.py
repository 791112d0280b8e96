"""The ``main()`` of every node: rclpy.init/try/finally as in ros2/examples, a clean exit on Ctrl-C or
SIGTERM, and a start-up error as one line and exit status 1 instead of a traceback."""

import rclpy
from rclpy.executors import ExternalShutdownException


def run_node(node_class, name, startup_errors, args=None):
    rclpy.init(args=args)
    node = None
    try:
        node = node_class()
        while rclpy.ok() and not getattr(node, 'finished', False):
            rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except startup_errors as exc:
        print(f'{name}: {exc}', flush=True)
        raise SystemExit(1)
    except Exception:
        if rclpy.ok():
            raise
        # SIGINT/SIGTERM shut the context down inside spin_once (rclpy raises RCLError there): a clean exit.
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
