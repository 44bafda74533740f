"""Single-process layout: face_affect.launch.py with layout:=single (arguments pass through)."""

from launch import LaunchDescription
from launch.actions import GroupAction, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    """Include the main launch file, single-process layout, scoped (`layout` stays inside)."""
    main = PathJoinSubstitution(
        [FindPackageShare("face_affect_ros"), "launch", "face_affect.launch.py"]
    )
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(main), launch_arguments={"layout": "single"}.items()
    )
    return LaunchDescription([GroupAction([include], scoped=True, forwarding=True)])
