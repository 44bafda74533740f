"""Start face_affect_ros on a robot: single-process (default) or split layout.

    ros2 launch face_affect_ros face_affect.launch.py camera_topic:=/head_camera/rgb/image_raw
    ros2 launch face_affect_ros face_affect.launch.py layout:=split image_transport:=compressed

Why two layouts: the single-process node passes frames between its stages without serialisation
(lowest latency, least CPU); the split layout runs camera handling, detection and classification
as three nodes, so each can be placed, restarted or replaced on its own.

Topics are remapped, never passed as parameters: the camera topic is remapped onto the nodes'
`image` (and `image/compressed`) input; outputs live under the chosen namespace
(`face_affect`, `face_affect/detections`, `face_affect/debug_image`).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import LaunchConfigurationEquals, LaunchConfigurationNotEquals
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.substitutions import FindPackageShare

PACKAGE = "face_affect_ros"

# Nodes of each layout, and which of them read the camera (and so get the camera remapping).
LAYOUTS = {
    "single": ("face_affect_node",),
    "split": ("camera_node", "detector_node", "classifier_node"),
}
CAMERA_NODES = ("face_affect_node", "camera_node")


def generate_launch_description() -> LaunchDescription:
    """Launch arguments, the Fast DDS profile, and the nodes of the chosen layout."""
    share = FindPackageShare(PACKAGE)
    camera = LaunchConfiguration("camera_topic")
    arguments = [
        DeclareLaunchArgument(
            "layout",
            default_value="single",
            choices=list(LAYOUTS),
            description="'single': one process, no image serialisation between stages; "
            "'split': camera_node, detector_node and classifier_node.",
        ),
        DeclareLaunchArgument(
            "camera_topic",
            default_value="/camera/image_raw",
            description="The robot's camera image topic. With image_transport:=compressed, "
            "'<camera_topic>/compressed' is subscribed.",
        ),
        DeclareLaunchArgument(
            "image_transport",
            default_value="raw",
            choices=["raw", "compressed"],
            description="'raw' (sensor_msgs/Image) or 'compressed' (sensor_msgs/CompressedImage).",
        ),
        DeclareLaunchArgument(
            "namespace",
            default_value="",
            description="Namespace of the nodes and of their output topics.",
        ),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([share, "config", "face_affect.yaml"]),
            description="Parameter YAML, keyed by node name.",
        ),
        DeclareLaunchArgument(
            "fastdds_profile",
            default_value=PathJoinSubstitution([share, "config", "fastdds_large_shm.xml"]),
            description="Fast DDS profile of the nodes (large shared-memory segment so camera "
            "images cross processes). Use the same profile for the camera driver.",
        ),
        DeclareLaunchArgument(
            "log_level",
            default_value="info",
            description="Logging level of the nodes.",
        ),
    ]
    environment = [
        SetEnvironmentVariable("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp"),
        SetEnvironmentVariable(
            "FASTDDS_DEFAULT_PROFILES_FILE", LaunchConfiguration("fastdds_profile")
        ),
        # Pushed only when given: an empty push is not a no-op on every distro.
        PushRosNamespace(
            LaunchConfiguration("namespace"),
            condition=LaunchConfigurationNotEquals("namespace", ""),
        ),
    ]
    parameters = [
        LaunchConfiguration("params_file"),
        {"input_transport": LaunchConfiguration("image_transport")},
    ]
    camera_remaps = [("image", camera), ("image/compressed", [camera, "/compressed"])]
    nodes = [
        Node(
            package=PACKAGE,
            executable=executable,
            name=executable,
            output="screen",
            parameters=parameters,
            remappings=camera_remaps if executable in CAMERA_NODES else [],
            arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
            condition=LaunchConfigurationEquals("layout", layout),
        )
        for layout, executables in LAYOUTS.items()
        for executable in executables
    ]
    return LaunchDescription(arguments + environment + nodes)
