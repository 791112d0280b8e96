"""Camera + recognizer (+ mirror) with config/recognizer.yaml.

  ros2 launch expression_recognizer_ros recognizer.launch.py                  # the YAML's camera.source
  ros2 launch expression_recognizer_ros recognizer.launch.py source:=/path/to/video.mp4
  ros2 launch expression_recognizer_ros recognizer.launch.py use_camera:=false image_topic:=/camera/image_raw
  ros2 launch expression_recognizer_ros recognizer.launch.py use_mirror:=true   # + robot face on robot_face/image
  ros2 launch expression_recognizer_ros recognizer.launch.py model:=cnn-fer2013  # the CNN instead of the ensemble
  ros2 launch expression_recognizer_ros recognizer.launch.py namespace:=left source:=2   # one pipeline per camera
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, OpaqueFunction, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

PACKAGE = 'expression_recognizer_ros'

ARGUMENTS = {
    'params_file': (PathJoinSubstitution([FindPackageShare(PACKAGE), 'config', 'recognizer.yaml']),
                    'YAML with the camera, recognizer and mirror parameters'),
    'source': ('', 'camera index, /dev/videoN, video file or image folder; empty: the params file\'s '
                   'camera.source'),
    'use_camera': ('true', 'start our camera node; false to use an existing camera driver'),
    'image_topic': ('image_raw', 'image topic the recognizer subscribes to (relative: inside namespace)'),
    'use_mirror': ('false', 'start the mirror node: the robot face on robot_face/image'),
    'model': ('', 'shipped model name (e.g. cnn-fer2013) or model directory; empty: the params file\'s '
                  'model_dir'),
    'namespace': ('', 'ROS namespace for the nodes and their topics, to run one pipeline per camera'),
    'large_data': ('false', 'Fast DDS LARGE_DATA transport for these nodes: faster large images, but '
                            'only peers that also use LARGE_DATA receive their topics, on this host too'),
}


def pipeline(context):
    """The nodes; launch arguments override the params file only when they are given."""
    arg = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    params_file = arg['params_file']
    # Typed as str: launch_ros reads a substituted value as YAML, which made source:=0 an integer.
    camera_overrides = [{'source': ParameterValue(arg['source'], value_type=str)}] if arg['source'] else []
    model_overrides = [{'model_dir': arg['model']}] if arg['model'] else []
    actions = [PushRosNamespace(arg['namespace'])] if arg['namespace'] else []
    actions += [
        Node(package=PACKAGE, executable='camera_node', name='camera', output='screen',
             parameters=[params_file] + camera_overrides,
             condition=IfCondition(LaunchConfiguration('use_camera'))),
        Node(package=PACKAGE, executable='recognizer_node', name='recognizer', output='screen',
             parameters=[params_file] + model_overrides, remappings=[('image', arg['image_topic'])]),
        Node(package=PACKAGE, executable='mirror_node', name='mirror', output='screen',
             parameters=[params_file], condition=IfCondition(LaunchConfiguration('use_mirror'))),
    ]
    return [GroupAction(actions)]


def generate_launch_description():
    return LaunchDescription([
        *(DeclareLaunchArgument(name, default_value=default, description=description)
          for name, (default, description) in ARGUMENTS.items()),
        SetEnvironmentVariable('FASTDDS_BUILTIN_TRANSPORTS', 'LARGE_DATA',
                               condition=IfCondition(LaunchConfiguration('large_data'))),
        OpaqueFunction(function=pipeline),
    ])
