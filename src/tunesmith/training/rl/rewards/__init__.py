"""Reward functions for RL with verifiable rewards: built-ins (builtins.py), loading by
spec (load.py) and scoring a batch of completions (scoring.py)."""

from tunesmith.training.rl.rewards.load import RewardFunction, RewardSpec, load_reward_functions
from tunesmith.training.rl.rewards.scoring import RewardError, RewardScores, score

__all__ = [
    "RewardError",
    "RewardFunction",
    "RewardScores",
    "RewardSpec",
    "load_reward_functions",
    "score",
]
