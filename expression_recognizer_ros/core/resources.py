"""
Files shipped with the package (models, media): beside the source tree, or in the ROS share
directory.
"""

import hashlib
import os

PACKAGE = 'expression_recognizer_ros'
# the repository root: <root>/expression_recognizer_ros/core/resources.py
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def package_path(*parts) -> str:
    """Path of a shipped file or folder; colcon installs them under share/, not beside modules."""
    local = os.path.join(SOURCE_ROOT, *parts)
    if os.path.exists(local):
        return local
    try:
        from ament_index_python.packages import get_package_share_directory
        return os.path.join(get_package_share_directory(PACKAGE), *parts)
    except (ImportError, LookupError, OSError):  # no ROS, not sourced, or not installed by colcon
        return local


def file_sha256(path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks: the check of every shipped model file."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()
