"""ROS 2 nodes: thin adapters between ROS messages and the inference core."""
