"""Layers, one file per family."""

from glassnet.layers.activations import ELU, GELU, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from glassnet.layers.attention import MultiHeadAttention
from glassnet.layers.augment import RandomHorizontalFlip, RandomShift
from glassnet.layers.conv import Conv2d
from glassnet.layers.dropout import Dropout
from glassnet.layers.embedding import Embedding
from glassnet.layers.linear import Linear
from glassnet.layers.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from glassnet.layers.pooling import AvgPool2d, MaxPool2d
from glassnet.layers.recurrent import GRU, LSTM, RNN
from glassnet.layers.reshape import Flatten
from glassnet.layers.residual import Residual

__all__ = [
    "Linear",
    "Identity",
    "Sigmoid",
    "Tanh",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "GELU",
    "Softmax",
    "Flatten",
    "Dropout",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "RNN",
    "LSTM",
    "GRU",
    "Embedding",
    "LayerNorm",
    "MultiHeadAttention",
    "Residual",
    "RandomShift",
    "RandomHorizontalFlip",
]
