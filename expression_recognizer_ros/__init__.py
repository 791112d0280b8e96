"""
Facial expression recognition for ROS 2: Haar-cascade fallback + Fisherface ensemble.

Four layers, each a subpackage whose docstring says what it may import:
``core`` (detection, preprocessing, the pipeline: numpy and cv2 only), ``classifiers`` (the model
backends behind one contract), ``ros`` (the nodes: the only layer that imports rclpy) and ``tools``
(command line, training, evaluation, benchmark). Only ``ros`` imports ROS.
"""

from importlib import metadata

try:
    __version__ = metadata.version('expression_recognizer_ros')
except metadata.PackageNotFoundError:
    # installed by colcon's install(DIRECTORY), without pip metadata
    __version__ = 'unknown'
