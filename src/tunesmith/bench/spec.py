"""What the parent hands each arm's subprocess: one JSON file, the same for both arms."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

LLAMA_LINEARS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class ArmSpec:
    """Shared settings; `batch_size` is the baseline's, `batch_tokens`/`grad_accum` ours."""

    train_file: str
    heldout_file: str
    work_dir: str
    model: str = "tiny-qwen2"
    seed: int = 42
    threads: int = 2
    max_len: int = 1024
    lr: float = 1e-3
    scheduler: str = "cosine"
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    lora_r: int = 16
    lora_alpha: float = 32.0
    lora_dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: list(LLAMA_LINEARS))
    batch_size: int = 8
    batch_tokens: int = 1024
    grad_accum: int = 1
    method: str = "lora"  # lora | full (both arms)
    precision: str = "fp32"  # fp32 | bf16 (autocast in both arms)

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path) -> ArmSpec:
        return cls(**json.loads(Path(path).read_text()))
