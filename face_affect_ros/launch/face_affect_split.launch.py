"""Split layout (camera, detector and classifier nodes): face_affect.launch.py, layout:=split."""

from launch import LaunchDescription
from launch.actions import GroupAction, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    """Include the main launch file, split layout, scoped (`layout` stays inside)."""
    main = PathJoinSubstitution(
        [FindPackageShare("face_affect_ros"), "launch", "face_affect.launch.py"]
    )
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(main), launch_arguments={"layout": "split"}.items()
    )
    return LaunchDescription([GroupAction([include], scoped=True, forwarding=True)])
