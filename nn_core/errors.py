"""The one error family of nn_core.

Every error a user can cause (bad file, bad shape, bad data) is a subclass of
``NNCoreError``, itself a ``ValueError``, so callers can catch one type and show
its message, which always says what was wrong and what was expected.
"""


class NNCoreError(ValueError):
    """Base of every error nn_core raises on bad input."""


class ConfigError(NNCoreError):
    """A network or training configuration that cannot be built."""


class ShapeError(NNCoreError):
    """An array whose shape or dtype is not the one expected."""


class DataError(NNCoreError):
    """MNIST files that are missing, truncated, foreign or corrupted."""


class DownloadError(DataError):
    """MNIST could not be downloaded from any mirror."""


class NetworkFileError(NNCoreError):
    """A network file that is unsafe, malformed or inconsistent."""


class ImageError(NNCoreError):
    """An image file or array that cannot be read as a digit image."""
