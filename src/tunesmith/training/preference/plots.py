"""preference_curves.png: reward margins and pairwise accuracies, train and validation."""

from __future__ import annotations

from pathlib import Path

from tunesmith.training.logging import read_metrics, series


def plot_preference(metrics: Path, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key, style in (("rewards/margins", "-"), ("eval_rewards/margins", "o-")):
        xs, ys = series(records, key)
        if xs:
            left.plot(xs, ys, style, label=key)
    for key, style in (
        ("rewards/accuracies", "-"), ("eval_rewards/accuracies", "o-"),
        ("eval_pairwise_accuracy", "s--"), ("rewards/desirable", "-"),
    ):  # fmt: skip
        xs, ys = series(records, key)
        if xs:
            right.plot(xs, ys, style, label=key)
    left.set_title("reward margin (chosen - rejected)")
    right.set_title("accuracy (chosen preferred)")
    for ax in (left, right):
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
