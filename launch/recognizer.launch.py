r"""
Camera + recognizer (+ mirror) with config/recognizer.yaml.

ros2 launch expression_recognizer_ros recognizer.launch.py   # the YAML's camera.source
ros2 launch expression_recognizer_ros recognizer.launch.py source:=/path/to/video.mp4
ros2 launch expression_recognizer_ros recognizer.launch.py use_camera:=false \
    image_topic:=/camera/image_raw
# + robot face on robot_face/image
ros2 launch expression_recognizer_ros recognizer.launch.py use_mirror:=true
# recommended for strangers: the CNN instead of the ensemble
ros2 launch expression_recognizer_ros recognizer.launch.py model:=cnn5-posed
# one pipeline per camera
ros2 launch expression_recognizer_ros recognizer.launch.py namespace:=left source:=2
# JPEG between camera and recognizer (image_raw/compressed), or from a driver's image_transport
ros2 launch expression_recognizer_ros recognizer.launch.py transport:=compressed
"""

from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    GroupAction,
    OpaqueFunction,
    SetEnvironmentVariable,
)
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

PACKAGE = 'expression_recognizer_ros'

ARGUMENTS = {
    'params_file': (PathJoinSubstitution([FindPackageShare(PACKAGE), 'config', 'recognizer.yaml']),
                    'YAML with the camera, recognizer and mirror parameters'),
    'source': ('', 'camera index, /dev/videoN, video file, image folder or recorded bag '
                   "(.mcap, .db3, .bag, rosbag2 folder); empty: the params file's camera.source"),
    'use_camera': ('true', 'start our camera node; false to use an existing camera driver'),
    'image_topic': ('image_raw',
                    'image topic the recognizer subscribes to (relative: inside namespace)'),
    'use_mirror': ('false', 'start the mirror node: the robot face on robot_face/image'),
    'model': ('', 'shipped model name (cnn5-posed is recommended for strangers) or model '
                  "directory; empty: the params file's model_dir"),
    'namespace': ('',
                  'ROS namespace for the nodes and their topics, to run one pipeline per camera'),
    'autostart': ('true', 'the lifecycle nodes configure and activate themselves; false: they '
                          'wait, unconfigured, for lifecycle transitions from you or a lifecycle '
                          'manager'),
    'transport': ('', 'raw (sensor_msgs/Image) or compressed (JPEG CompressedImage on '
                      '<image topic>/compressed) for the camera and the recognizer; empty: the '
                      "params file's"),
    'large_data': ('false', 'Fast DDS LARGE_DATA transport for these nodes: faster large images, '
                            'but only peers that also use LARGE_DATA receive their topics, '
                            'on this host too'),
}


def lifecycle_node(executable, name, parameters, autostart, **kwargs):
    """
    One of our lifecycle nodes. With ``autostart`` it configures and activates itself (its
    autostart parameter), else it waits unconfigured for your transitions. Not driven by
    launch_ros's LifecycleNode events: those put an rclpy node into ros2 launch itself, and on a
    busy machine ros2 launch then aborted after Ctrl-C ("terminate called without an active
    exception", exit -6) once every node had ended cleanly; nor could they reach LARGE_DATA nodes.
    """
    return [Node(package=PACKAGE, executable=executable, name=name, output='screen',
                 parameters=parameters + [{'autostart': autostart}], **kwargs)]


def pipeline(context):
    """The nodes; launch arguments override the params file only when they are given."""
    arg = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    flag = {name: IfCondition(arg[name]).evaluate(context)
            for name in ('use_camera', 'use_mirror', 'autostart')}
    start = flag['autostart']
    params_file = arg['params_file']
    # Typed as str: launch_ros reads a substituted value as YAML, which made source:=0 an integer.
    camera_overrides = ([{'source': ParameterValue(arg['source'], value_type=str)}]
                        if arg['source'] else [])
    model_overrides = [{'model_dir': arg['model']}] if arg['model'] else []
    transport_overrides = [{'transport': arg['transport']}] if arg['transport'] else []
    actions = [PushRosNamespace(arg['namespace'])] if arg['namespace'] else []
    if flag['use_camera']:
        actions += lifecycle_node('camera_node', 'camera',
                                  [params_file] + camera_overrides + transport_overrides, start)
    actions += lifecycle_node('recognizer_node', 'recognizer',
                              [params_file] + model_overrides + transport_overrides, start,
                              remappings=[('image', arg['image_topic'])])
    if flag['use_mirror']:
        actions += lifecycle_node('mirror_node', 'mirror', [params_file], start)
    return [GroupAction(actions)]


def generate_launch_description():
    """Declare the launch arguments and build the pipeline from them."""
    return LaunchDescription([
        *(DeclareLaunchArgument(name, default_value=default, description=description)
          for name, (default, description) in ARGUMENTS.items()),
        SetEnvironmentVariable('FASTDDS_BUILTIN_TRANSPORTS', 'LARGE_DATA',
                               condition=IfCondition(LaunchConfiguration('large_data'))),
        OpaqueFunction(function=pipeline),
    ])
