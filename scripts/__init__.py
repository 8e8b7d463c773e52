"""Maintenance scripts (not part of nn_core): data preparation for training the bundled network."""
