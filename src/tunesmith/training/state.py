"""The loop's resumable position: everything besides weights, optimizer and RNG."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class TrainState:
    step: int = 0  # optimizer steps done
    epoch: int = 0  # current epoch
    batch_in_epoch: int = 0  # micro-batches of the current epoch already consumed
    tokens_seen: int = 0  # real (non-pad) input tokens processed
    best_metric: float | None = None
    best_step: int | None = None  # step of best_metric
    evals_without_improvement: int = 0
    history: list[dict] = field(default_factory=list)  # evaluation records
    stream: dict | None = None  # data.streaming: the stream's place (training/streaming.py)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> TrainState:
        return cls(**json.loads(path.read_text()))
