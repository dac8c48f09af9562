"""Optimizers and learning-rate schedules."""

from glassnet.optim.adam import Adam
from glassnet.optim.adamw import AdamW
from glassnet.optim.clip import GradientClipping, clip_grad_norm
from glassnet.optim.optimizer import Optimizer
from glassnet.optim.rmsprop import RMSprop
from glassnet.optim.schedulers import CosineAnnealingLR, ExponentialLR, LRScheduler, StepLR, WarmupCosineLR
from glassnet.optim.sgd import SGD

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "LRScheduler",
    "StepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "WarmupCosineLR",
    "clip_grad_norm",
    "GradientClipping",
]
