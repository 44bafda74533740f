"""Console scripts that run the inference core without ROS (e.g. ``face-affect-image``)."""
