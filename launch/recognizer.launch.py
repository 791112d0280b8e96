r"""
Camera + recognizer (+ mirror) with config/recognizer.yaml.

ros2 launch expression_recognizer_ros recognizer.launch.py   # the YAML's camera.source
ros2 launch expression_recognizer_ros recognizer.launch.py source:=/path/to/video.mp4
ros2 launch expression_recognizer_ros recognizer.launch.py use_camera:=false \
    image_topic:=/camera/image_raw
# + robot face on robot_face/image
ros2 launch expression_recognizer_ros recognizer.launch.py use_mirror:=true
# recommended for strangers: the distilled CNN instead of the ensemble
ros2 launch expression_recognizer_ros recognizer.launch.py model:=cnn2-fer2013
# one pipeline per camera
ros2 launch expression_recognizer_ros recognizer.launch.py namespace:=left source:=2
"""

from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    GroupAction,
    OpaqueFunction,
    RegisterEventHandler,
    SetEnvironmentVariable,
)
from launch.conditions import IfCondition
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, PushRosNamespace
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare
from lifecycle_msgs.msg import Transition

from launch import LaunchDescription

PACKAGE = 'expression_recognizer_ros'

ARGUMENTS = {
    'params_file': (PathJoinSubstitution([FindPackageShare(PACKAGE), 'config', 'recognizer.yaml']),
                    'YAML with the camera, recognizer and mirror parameters'),
    'source': ('', 'camera index, /dev/videoN, video file or image folder; '
                   "empty: the params file's camera.source"),
    'use_camera': ('true', 'start our camera node; false to use an existing camera driver'),
    'image_topic': ('image_raw',
                    'image topic the recognizer subscribes to (relative: inside namespace)'),
    'use_mirror': ('false', 'start the mirror node: the robot face on robot_face/image'),
    'model': ('', 'shipped model name (cnn2-fer2013 is recommended for strangers) or model '
                  "directory; empty: the params file's model_dir"),
    'namespace': ('',
                  'ROS namespace for the nodes and their topics, to run one pipeline per camera'),
    'autostart': ('true', 'drive the lifecycle nodes to active; false: they wait, unconfigured, '
                          'for lifecycle transitions from you or a lifecycle manager'),
    'large_data': ('false', 'Fast DDS LARGE_DATA transport for these nodes: faster large images, '
                            'but only peers that also use LARGE_DATA receive their topics, '
                            'on this host too'),
}


def lifecycle_node(executable, name, parameters, start, **kwargs):
    """
    One of our lifecycle nodes. start: 'launch' configures it from here, then activates it once it
    is inactive; 'self' lets the node do both (its autostart parameter): with LARGE_DATA, launch's
    own DDS participant keeps the default transports and cannot reach the node; 'wait' leaves it
    unconfigured for your transitions.
    """
    node = LifecycleNode(package=PACKAGE, executable=executable, name=name, namespace='',
                         output='screen',
                         parameters=parameters + [{'autostart': start == 'self'}], **kwargs)
    if start != 'launch':
        return [node]

    def change(transition):
        return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                           transition_id=transition))
    return [node,
            RegisterEventHandler(OnStateTransition(target_lifecycle_node=node,
                                                   goal_state='inactive',
                                                   entities=[change(Transition.TRANSITION_ACTIVATE)])),
            change(Transition.TRANSITION_CONFIGURE)]


def pipeline(context):
    """The nodes; launch arguments override the params file only when they are given."""
    arg = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    flag = {name: IfCondition(arg[name]).evaluate(context)
            for name in ('use_camera', 'use_mirror', 'autostart', 'large_data')}
    start = ('self' if flag['large_data'] else 'launch') if flag['autostart'] else 'wait'
    params_file = arg['params_file']
    # Typed as str: launch_ros reads a substituted value as YAML, which made source:=0 an integer.
    camera_overrides = ([{'source': ParameterValue(arg['source'], value_type=str)}]
                        if arg['source'] else [])
    model_overrides = [{'model_dir': arg['model']}] if arg['model'] else []
    actions = [PushRosNamespace(arg['namespace'])] if arg['namespace'] else []
    if flag['use_camera']:
        actions += lifecycle_node('camera_node', 'camera', [params_file] + camera_overrides, start)
    actions += lifecycle_node('recognizer_node', 'recognizer', [params_file] + model_overrides,
                              start, remappings=[('image', arg['image_topic'])])
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
