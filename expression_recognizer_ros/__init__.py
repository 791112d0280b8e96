"""
Facial expression recognition for ROS 2: Haar-cascade fallback + Fisherface ensemble.

Four layers, each a subpackage whose docstring says what it may import:
``core`` (detection, preprocessing, the pipeline: numpy and cv2 only), ``classifiers`` (the model
backends behind one contract), ``ros`` (the nodes: the only layer that imports rclpy) and ``tools``
(command line, training, evaluation, benchmark). Only ``ros`` imports ROS.
"""


def __getattr__(name):
    """
    ``__version__``, read on first use: importlib.metadata takes about 30 ms, which every node
    would otherwise spend before its first lines install the stop-signal handlers (ros/process.py).
    """
    if name != '__version__':
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    from importlib import metadata
    try:
        return metadata.version('expression_recognizer_ros')
    except metadata.PackageNotFoundError:
        # colcon's install(DIRECTORY) or a source tree: no pip metadata, package.xml says it
        import re

        from .core.resources import package_path
        try:
            with open(package_path('package.xml'), encoding='utf-8') as f:
                return re.search(r'<version>([^<]+)</version>', f.read()).group(1)
        except (OSError, AttributeError):
            return 'unknown'
