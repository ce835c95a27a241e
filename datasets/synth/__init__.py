"""Synthetic patrol-camera scene generator: training frames and drive-by clips with ground truth."""
