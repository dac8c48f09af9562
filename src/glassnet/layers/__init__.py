"""Layers, one file per family."""

from glassnet.layers.activations import ELU, GELU, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from glassnet.layers.linear import Linear

__all__ = ["Linear", "Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "GELU", "Softmax"]
