"""Reinforcement learning with verifiable rewards (GRPO and its successors).

    losses.py      the clipped policy objective per loss variant (grpo, dr_grpo, dapo, gspo)
    advantages.py  group-relative advantages, DAPO dynamic sampling and soft overlong penalty
    rewards/       built-in and custom reward functions, and scoring a batch of completions

The recipe (rollout, then update) composes these; each piece is plain torch on tensors the
recipe hands in, tested against TRL's GRPOTrainer on the same inputs.
"""
