"""The framework-neutral training core both trainers adapt: it imports neither TensorFlow nor PyTorch."""
