"""Camera + recognizer with config/recognizer.yaml.

  ros2 launch expression_recognizer_ros recognizer.launch.py
  ros2 launch expression_recognizer_ros recognizer.launch.py source:=/path/to/video.mp4
  ros2 launch expression_recognizer_ros recognizer.launch.py use_camera:=false image_topic:=/camera/image_raw
  ros2 launch expression_recognizer_ros recognizer.launch.py use_mirror:=true   # + robot face on robot_face/image
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = 'expression_recognizer_ros'


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
        Node(package=PACKAGE, executable='camera_node', name='camera', output='screen',
             parameters=[params_file, {'source': LaunchConfiguration('source')}],
             condition=IfCondition(LaunchConfiguration('use_camera'))),
        Node(package=PACKAGE, executable='recognizer_node', name='recognizer', output='screen',
             parameters=[params_file], remappings=[('image', image_topic)]),
        Node(package=PACKAGE, executable='mirror_node', name='mirror', output='screen',
             parameters=[params_file], condition=IfCondition(LaunchConfiguration('use_mirror'))),
    ])
