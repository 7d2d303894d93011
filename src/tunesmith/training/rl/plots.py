"""rewards.png: the reward curves of a grpo run (train per function and total, held-out)."""

from __future__ import annotations

from pathlib import Path

from tunesmith.training.logging import read_metrics, series


def plot_rewards(metrics: Path, path: Path) -> None:
    """Left: train rewards per rollout batch (total and per function); right: held-out
    rewards per evaluation (greedy completions)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics)
    keys = {k for r in records for k in r}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for key in [
        "reward",
        *sorted(k for k in keys if k.startswith("rewards/") and k.endswith("/mean")),
    ]:
        xs, ys = series(records, key)
        if xs:
            left.plot(xs, ys, "-", label=key.removesuffix("/mean"))
    for key in ["eval_reward", *sorted(k for k in keys if k.startswith("eval_rewards/"))]:
        xs, ys = series(records, key)
        if xs:
            right.plot(xs, ys, "o-", label=key)
    left.set_title("train rewards (sampled completions)")
    right.set_title("held-out rewards (greedy)")
    for ax in (left, right):
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
