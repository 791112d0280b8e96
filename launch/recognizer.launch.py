"""Camera + recognizer with config/recognizer.yaml.

  ros2 launch expression_recognizer_ros recognizer.launch.py
  ros2 launch expression_recognizer_ros recognizer.launch.py source:=/path/to/video.mp4
  ros2 launch expression_recognizer_ros recognizer.launch.py use_camera:=false image_topic:=/camera/image_raw
  ros2 launch expression_recognizer_ros recognizer.launch.py use_mirror:=true   # + robot face on robot_face/image
  ros2 launch expression_recognizer_ros recognizer.launch.py model:=cnn-fer2013  # the CNN instead of the ensemble
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = 'expression_recognizer_ros'


def recognizer(context, params_file, image_topic):
    """The recognizer; ``model`` overrides the YAML's model_dir only when given."""
    model = LaunchConfiguration('model').perform(context)
    return [Node(package=PACKAGE, executable='recognizer_node', name='recognizer', output='screen',
                 parameters=[params_file] + ([{'model_dir': model}] if model else []),
                 remappings=[('image', image_topic)])]


def generate_launch_description():
    params_file = LaunchConfiguration('params_file')
    image_topic = LaunchConfiguration('image_topic')
    return LaunchDescription([
        DeclareLaunchArgument(
            'params_file', default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), 'config', 'recognizer.yaml']),
            description='YAML with the camera and recognizer parameters'),
        DeclareLaunchArgument('source', default_value='0',
                              description='camera index, /dev/videoN, video file or image folder'),
        DeclareLaunchArgument('use_camera', default_value='true',
                              description='start our camera node; false to use an existing camera driver'),
        DeclareLaunchArgument('image_topic', default_value='image_raw',
                              description='image topic the recognizer subscribes to'),
        DeclareLaunchArgument('use_mirror', default_value='false',
                              description='start the mirror node: the robot face on robot_face/image'),
        DeclareLaunchArgument('model', default_value='',
                              description='shipped model name (e.g. cnn-fer2013) or model directory; '
                                          'empty: the params file\'s model_dir'),
        DeclareLaunchArgument('large_data', default_value='false',
                              description='Fast DDS LARGE_DATA transport for these nodes (faster large images on '
                                          'one host; peers on other hosts need it too)'),
        SetEnvironmentVariable('FASTDDS_BUILTIN_TRANSPORTS', 'LARGE_DATA',
                               condition=IfCondition(LaunchConfiguration('large_data'))),
        Node(package=PACKAGE, executable='camera_node', name='camera', output='screen',
             parameters=[params_file, {'source': LaunchConfiguration('source')}],
             condition=IfCondition(LaunchConfiguration('use_camera'))),
        OpaqueFunction(function=recognizer, args=[params_file, image_topic]),
        Node(package=PACKAGE, executable='mirror_node', name='mirror', output='screen',
             parameters=[params_file], condition=IfCondition(LaunchConfiguration('use_mirror'))),
    ])
