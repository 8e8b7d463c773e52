"""nn_core: a from-scratch numpy neural network for handwritten digits.

Data flows one way: MNIST (mnist) → Trainer (trainer) → Network (network) →
network file (network_file); and image → preprocess → Network → probabilities.

Importing the package loads nothing heavy, so ``python -m nn_core --threads N``
can size numpy's BLAS thread pool before numpy is first imported.
"""

__all__ = ["NetworkConfig", "TrainConfig", "Network", "Trainer", "NNCoreError"]


def __getattr__(name: str):
    # The public names on demand: `from nn_core import Network` still works.
    if name in ("NetworkConfig", "TrainConfig"):
        from . import config
        return getattr(config, name)
    if name == "Network":
        from .network import Network
        return Network
    if name == "Trainer":
        from .trainer import Trainer
        return Trainer
    if name == "NNCoreError":
        from .errors import NNCoreError
        return NNCoreError
    raise AttributeError(f"module 'nn_core' has no attribute {name!r}")
