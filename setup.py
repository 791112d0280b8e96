"""
pip install for use without ROS: the core and the ``expression-recognizer`` command.

The ROS build (colcon, CMakeLists.txt) installs the same package plus the Emotion message and
nodes. The version has one source, package.xml.
"""

from pathlib import Path
import re

from setuptools import find_packages, setup

PACKAGE_XML = (Path(__file__).parent / 'package.xml').read_text()
VERSION = re.search(r'<version>([^<]+)</version>', PACKAGE_XML).group(1)

setup(
    name='expression_recognizer_ros',
    version=VERSION,
    description='Facial expression recognition: YuNet faces, Fisherface ensemble or compact CNN',
    license='BSD-3-Clause',
    packages=find_packages(include=['expression_recognizer_ros', 'expression_recognizer_ros.*']),
    python_requires='>=3.10',
    install_requires=['numpy', 'scipy', 'opencv-contrib-python-headless<5'],
    # Pinned versions: requirements*.txt. torch: take the CPU build (see requirements-train.txt).
    extras_require={'train': ['scikit-learn', 'matplotlib'], 'cnn': ['torch', 'onnx'],
                    'bags': ['rosbags', 'matplotlib']},
    entry_points={'console_scripts': [
        'expression-recognizer = expression_recognizer_ros.tools.cli:main']},
)
