"""Where the app keeps its files and how much it allows, from the checkout and the environment.

``app.py`` names the checkout it runs from (``use_app_folder``); the environment
may point the networks folder and the bundled network elsewhere (tests use
temporary copies, so they never touch the repository's files) and set the
server's limits.
"""

from __future__ import annotations

import os
from pathlib import Path

from nn_core.errors import ConfigError

NETWORKS_DIR_ENV = "DIGITS_NETWORKS_DIR"
DEFAULT_NETWORK_ENV = "DIGITS_DEFAULT_NETWORK"
# How many runs may train at once on this server (the rest wait in line); default: one per core.
MAX_TRAINERS_ENV = "DIGITS_MAX_TRAINERS"
# The shared library's limits: networks one session may save, and megabytes in the whole folder.
LIBRARY_QUOTA_ENV = "DIGITS_LIBRARY_QUOTA"
LIBRARY_MAX_MB_ENV = "DIGITS_LIBRARY_MAX_MB"

# The checkout the app runs from. app.py names it from its own file, which also holds
# after a plain `pip install .`, where this package is a copy outside the checkout.
_app_folder = Path(__file__).resolve().parent.parent


def use_app_folder(folder: Path) -> None:
    """Take saved_networks/ and data/mnist/ from ``folder`` (the checkout holding app.py)."""
    global _app_folder
    _app_folder = Path(folder)


def networks_dir() -> Path:
    return Path(os.environ.get(NETWORKS_DIR_ENV) or _app_folder / "saved_networks")


def default_network_path() -> Path:
    return Path(os.environ.get(DEFAULT_NETWORK_ENV) or _app_folder / "saved_networks" / "default.npz")


def mnist_dir() -> Path:
    """Where MNIST is looked for after $MNIST_DIR, and downloaded to when missing."""
    return _app_folder / "data" / "mnist"


def shared_mnist_dir() -> Path:
    """Where the trainer processes' read-only copy of the training split is kept."""
    return _app_folder / "data" / "shared-mnist"


def positive_int_setting(variable: str, default: int) -> int:
    """A whole number of at least 1 from environment ``variable``; ``default`` if unset."""
    setting = os.environ.get(variable, "").strip()
    if not setting:
        return default
    if not setting.isdigit() or int(setting) < 1:
        raise ConfigError(f"{variable} must be a whole number of at least 1; got {setting!r}")
    return int(setting)


def max_trainers() -> int:
    """$DIGITS_MAX_TRAINERS, else one trainer per core (each trains on one core at a time)."""
    return positive_int_setting(MAX_TRAINERS_ENV, os.cpu_count() or 1)
