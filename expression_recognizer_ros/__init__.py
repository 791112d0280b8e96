"""Facial expression recognition for ROS 2: Haar-cascade fallback + Fisherface ensemble.

Everything in this package except the ``*_node`` modules is plain Python with no ROS import.
"""

from importlib import metadata

try:
    __version__ = metadata.version('expression_recognizer_ros')
except metadata.PackageNotFoundError:  # installed by colcon's install(DIRECTORY), without pip metadata
    __version__ = 'unknown'
