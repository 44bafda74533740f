"""ROS-free contracts shared by nodes, bag tool and CLIs: the parameter table and result JSON."""
