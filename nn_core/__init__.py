"""nn_core: a from-scratch numpy neural network for handwritten digits.

Data flows one way, and the folders follow it: MNIST (storage) → Trainer
(training) → Network (model) → network file (storage); and image → preprocess →
Network → probabilities. The speed layer (speed) wraps the model from outside;
synthetic drawings (synthetic) feed training data and benchmarks.

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
        from .model.network import Network
        return Network
    if name == "Trainer":
        from .training.trainer import Trainer
        return Trainer
    if name == "NNCoreError":
        from .errors import NNCoreError
        return NNCoreError
    raise AttributeError(f"module 'nn_core' has no attribute {name!r}")
