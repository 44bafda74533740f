"""Single-process layout: face_affect.launch.py with layout:=single (arguments pass through)."""

from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    """Include the main launch file with the single-process layout."""
    main = PathJoinSubstitution(
        [FindPackageShare("face_affect_ros"), "launch", "face_affect.launch.py"]
    )
    return LaunchDescription(
        [
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(main), launch_arguments={"layout": "single"}.items()
            ),
        ]
    )
