"""PyTorch-based model tools (convert, train, eval, explain, prune, quantise).

Only these tools import this package; the inference core and the ROS nodes never do, so that the
runtime needs onnxruntime and NumPy but not PyTorch.
"""
