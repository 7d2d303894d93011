"""Preference optimisation: DPO-family losses, packed pairs, reference log-probs, the recipe."""
