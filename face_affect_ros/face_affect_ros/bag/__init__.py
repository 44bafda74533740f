"""Offline and replay tools for rosbag2 files: the logic behind ``face-affect-bag``.

Kept apart from the console script so that reading, topic selection, writing and the summary
statistics are reachable from plain pytest. Bags are read and written with ``rosbags`` (pure
Python, no ``ros2 bag`` needed); messages are (de)serialised with rclpy, so the offline tool and
the ROS nodes publish byte-identical messages built by :mod:`face_affect_ros.nodes.messages`.
"""
