"""Optimizers and learning-rate schedules."""

from glassnet.optim.adam import Adam
from glassnet.optim.optimizer import Optimizer
from glassnet.optim.rmsprop import RMSprop
from glassnet.optim.schedulers import CosineAnnealingLR, ExponentialLR, LRScheduler, StepLR
from glassnet.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "RMSprop", "LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR"]
