"""face_affect_ros: faces, emotion and gender from a robot's camera, for ROS 2.

The inference core (`face_affect_ros.core`) never imports ROS; the nodes
(`face_affect_ros.nodes`) are thin adapters between ROS messages and that core.
"""

__version__ = "0.1.0"
