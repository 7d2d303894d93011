"""rewards.png: the reward curves of a grpo run (train per function and total, held-out)."""

from __future__ import annotations

import json
from pathlib import Path


def _series(records: list[dict], key: str) -> tuple[list[int], list[float]]:
    rows = [(r["step"], r[key]) for r in records if key in r and r[key] == r[key]]
    return [s for s, _ in rows], [v for _, v in rows]


def read_records(metrics: Path) -> list[dict]:
    out = []
    for line in metrics.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def plot_rewards(metrics: Path, path: Path) -> None:
    """Left: train rewards per rollout batch (total and per function); right: held-out
    rewards per evaluation (greedy completions)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_records(metrics)
    keys = {k for r in records for k in r}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for key in [
        "reward",
        *sorted(k for k in keys if k.startswith("rewards/") and k.endswith("/mean")),
    ]:
        xs, ys = _series(records, key)
        if xs:
            left.plot(xs, ys, "-", label=key.removesuffix("/mean"))
    for key in ["eval_reward", *sorted(k for k in keys if k.startswith("eval_rewards/"))]:
        xs, ys = _series(records, key)
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
