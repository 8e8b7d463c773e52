"""nn_core: a from-scratch numpy neural network for handwritten digits.

Data flows one way: MNIST (mnist) → Trainer (trainer) → Network (network) →
network file (network_file); and image → preprocess → Network → probabilities.
"""

from .config import NetworkConfig, TrainConfig
from .errors import NNCoreError
from .network import Network
from .trainer import Trainer

__all__ = ["NetworkConfig", "TrainConfig", "Network", "Trainer", "NNCoreError"]
