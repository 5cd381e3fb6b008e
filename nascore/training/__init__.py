"""Retraining derived networks (``nas train``): recipes, the resumable loop, network costs."""

from nascore.training.network import build_network, network_costs
from nascore.training.recipe import TrainConfig, learning_rate, recipe_defaults
from nascore.training.trainer import evaluate, resume_training, start_training

__all__ = [
    "TrainConfig",
    "build_network",
    "evaluate",
    "learning_rate",
    "network_costs",
    "recipe_defaults",
    "resume_training",
    "start_training",
]
