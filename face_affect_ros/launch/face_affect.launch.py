"""Start face_affect_ros on a robot: single-process (default) or split layout.

    ros2 launch face_affect_ros face_affect.launch.py camera_topic:=/head_camera/rgb/image_raw
    ros2 launch face_affect_ros face_affect.launch.py layout:=split image_transport:=compressed
    ros2 launch face_affect_ros face_affect.launch.py hri:=true   # + REP-155 /humans/faces/...

Why two layouts: the single-process node passes frames between its stages without serialisation
(lowest latency, least CPU); the split layout runs camera handling, detection and classification
as three nodes, so each can be placed, restarted or replaced on its own.

Made to be included by a robot's bringup and to change nothing outside itself: everything runs in
a scoped group (its launch configurations and environment are popped at its end), the Fast DDS
profile is given to our nodes only (Node additional_env), no RMW is forced (the nodes use the
robot's RMW_IMPLEMENTATION), and `namespace` is relative, so it nests under a namespace the
bringup pushed. What each node gets is decided in face_affect_ros.bringup (ROS-free), which the
tests use to start the same nodes without `launch`.

Topics are remapped, never passed as parameters: the camera topic is remapped onto the nodes'
`image` (and `image/compressed`) input; outputs live under the chosen namespace
(`face_affect`, `face_affect/detections`, `face_affect/debug_image`). With `hri:=true`,
hri_node adds REP-155's `/humans/faces/...` topics (absolute, as ROS4HRI consumers expect).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from face_affect_ros import bringup

PACKAGE = bringup.PACKAGE


def _nodes(context, *args, **kwargs):
    """The launch_ros Nodes of the chosen layout, from the launch arguments' values."""
    names = (
        "layout",
        "camera_topic",
        "image_transport",
        "namespace",
        "params_file",
        "fastdds_profile",
        "log_level",
        "hri",
    )
    configurations = [
        LaunchConfiguration("layout"),
        LaunchConfiguration("camera_topic"),
        LaunchConfiguration("image_transport"),
        LaunchConfiguration("namespace"),
        LaunchConfiguration("params_file"),
        LaunchConfiguration("fastdds_profile"),
        LaunchConfiguration("log_level"),
        LaunchConfiguration("hri"),
    ]
    values = {n: c.perform(context) for n, c in zip(names, configurations, strict=True)}
    values["hri"] = values["hri"].lower() == "true"
    return [
        Node(
            package=PACKAGE,
            executable=spec.executable,
            name=spec.name,
            # Relative (or none): joins the namespace an including bringup pushed.
            namespace=spec.namespace or None,
            output="screen",
            parameters=[*spec.params_files, *([dict(spec.parameters)] if spec.parameters else [])],
            remappings=list(spec.remappings),
            additional_env=dict(spec.env),
            arguments=["--ros-args", "--log-level", spec.log_level],
        )
        for spec in bringup.node_specs(**values)
    ]


def generate_launch_description() -> LaunchDescription:
    """Launch arguments and the nodes of the chosen layout, all inside one scoped group."""
    share = FindPackageShare(PACKAGE)
    arguments = [
        DeclareLaunchArgument(
            "layout",
            default_value="single",
            choices=list(bringup.LAYOUTS),
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
            default_value="",
            choices=list(bringup.IMAGE_TRANSPORTS),
            description="'raw' (sensor_msgs/Image) or 'compressed' (sensor_msgs/CompressedImage); "
            "empty (default): input_transport from params_file.",
        ),
        DeclareLaunchArgument(
            "namespace",
            default_value="",
            description="Namespace of the nodes and of their output topics, relative to the "
            "namespace of an including launch file.",
        ),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([share, "config", "face_affect.yaml"]),
            description="Parameter YAML, keyed '/**/<node name>' (matches in any namespace).",
        ),
        DeclareLaunchArgument(
            "fastdds_profile",
            default_value=PathJoinSubstitution([share, "config", "fastdds_large_shm.xml"]),
            description="Fast DDS profile of our nodes only (large shared-memory segment so "
            "camera images cross processes; fastdds_udp.xml across hosts); empty: inherit the "
            "bringup's. Ignored by other RMWs.",
        ),
        DeclareLaunchArgument(
            "log_level",
            default_value="info",
            description="Logging level of the nodes.",
        ),
        DeclareLaunchArgument(
            "hri",
            default_value="false",
            choices=["true", "false"],
            description="'true': also start hri_node, which republishes the results on REP-155's "
            "(ROS4HRI) /humans/faces/... topics (needs hri_msgs).",
        ),
    ]
    return LaunchDescription(
        [GroupAction([*arguments, OpaqueFunction(function=_nodes)], scoped=True, forwarding=True)]
    )
