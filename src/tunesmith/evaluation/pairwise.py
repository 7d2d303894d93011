"""Pairwise accuracy: does the model give the chosen answer a higher log-prob than the
rejected one? Usable on any model or adapter (`tunesmith eval run --metrics
pairwise_accuracy --data pairs.jsonl`), and the per-sequence log-probs the preference recipe
trains on.

`sequence_logps` turns one forward's logits into per-sequence sums of target log-probs and
target counts with one `index_add` over `seq_ids` (tokenize/preference.collate_items), so
padding never counts and packing changes nothing but speed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import PreTrainedTokenizerBase

from tunesmith.data.preference import PreferenceRecord, load_preference
from tunesmith.errors import ConfigError, DataError
from tunesmith.evaluation.runner import EvalResult
from tunesmith.evaluation.score import EvalRow
from tunesmith.records import Conversation
from tunesmith.tokenize.packing import IGNORE, pack_bins
from tunesmith.tokenize.preference import collate_items, encode_records, model_inputs, n_sequences
from tunesmith.tokenize.templates import render


def sequence_logps(
    logits: torch.Tensor, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of target log-probs, target count) per sequence, shape [2 x items] each, fp32."""
    device = logits.device
    targets = batch["targets"].to(device).reshape(-1)
    seq = batch["seq_ids"].to(device).reshape(-1)
    keep = targets != IGNORE
    scored = logits.reshape(-1, logits.shape[-1])[keep].float()
    token_logps = -F.cross_entropy(scored, targets[keep], reduction="none")
    n = n_sequences(batch)
    sums = torch.zeros(n, device=device).index_add(0, seq[keep], token_logps)
    counts = torch.zeros(n, device=device).index_add(0, seq[keep], torch.ones_like(token_logps))
    return sums, counts


def forward_logps(
    model: torch.nn.Module, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward of the batch; per-sequence log-prob sums and counts (see sequence_logps)."""
    device = next(model.parameters()).device
    logits = model(**model_inputs(batch, device), use_cache=False).logits
    return sequence_logps(logits, batch)


def read_pairs(paths: list[str | Path], max_samples: int = 0) -> list[PreferenceRecord]:
    """The preference pairs of `paths` (the first `max_samples` when > 0); unpaired (KTO)
    data or a bad record raises DataError naming file and line."""
    data = load_preference(paths)
    records = data.records[:max_samples] if max_samples else data.records
    if not records:
        raise DataError("no preference pairs to evaluate", file=", ".join(map(str, paths)))
    if not data.paired:
        file, line = records[0].source.rsplit(":", 1)
        raise DataError(
            "pairwise_accuracy needs chosen / rejected pairs; this record is unpaired (kto)",
            file=file, line=int(line), expected="prompt + chosen + rejected (docs/data.md)",
        )  # fmt: skip
    return records


@torch.no_grad()
def pair_logps(
    model: torch.nn.Module,
    tok: PreTrainedTokenizerBase,
    records: list[PreferenceRecord],
    *,
    batch_tokens: int = 4096,
    max_len: int = 4096,
    advance: Callable[[int], None] | None = None,
) -> tuple[list[EvalRow], float]:
    """Rows (one per pair: log-probs of chosen and rejected in `scores`, 1.0 / 0.0 in
    `metrics`) and the pairwise accuracy over `records`."""
    items = encode_records(tok, records, max_len)
    was_training = model.training
    model.eval()
    sums = torch.zeros(len(items), 2)
    for group in pack_bins([i.length for i in items], batch_tokens):
        batch = collate_items([items[i] for i in group], packing=True, pad_id=0)
        sums[torch.tensor(group)] = forward_logps(model, batch)[0].float().cpu().view(-1, 2)
        if advance is not None:
            advance(len(group))
    model.train(was_training)
    rows = []
    for item, (chosen, rejected) in zip(items, sums.tolist(), strict=True):
        rec = records[item.index]
        file, line = rec.source.rsplit(":", 1)
        row = EvalRow(file=file, line=int(line), input=render_prompt_of(rec))
        row.scores = {"chosen": chosen, "rejected": rejected}
        row.metrics = {"pairwise_accuracy": float(chosen > rejected)}
        rows.append(row)
    accuracy = sum(r.metrics["pairwise_accuracy"] for r in rows) / len(rows)
    return rows, accuracy


def render_prompt_of(rec: PreferenceRecord) -> str:
    return render(Conversation(messages=list(rec.prompt)), add_generation_prompt=True)


def run_pairwise(
    model: str,
    data: list[str],
    metrics: list[str],
    *,
    adapter: str | None = None,
    output: str | Path | None = None,
    max_samples: int = 0,
    dtype: str = "float32",
    batch_tokens: int = 4096,
    max_len: int = 4096,
    progress: bool = False,
) -> tuple[EvalResult, dict[str, Path]]:
    """`tunesmith eval run --metrics pairwise_accuracy`: eval.json, eval.md and
    predictions.jsonl (per pair: source, prompt, chosen / rejected log-probs)."""
    from tunesmith.evaluation.load import default_output, load_for_eval
    from tunesmith.evaluation.report import write_results
    from tunesmith.progress import EvalProgress

    others = [m for m in metrics if m != "pairwise_accuracy"]
    if others:
        raise ConfigError(
            f"--metrics: pairwise_accuracy reads preference pairs, which {', '.join(others)} "
            "cannot score; evaluate them in a separate run on an SFT-format file"
        )
    records = read_pairs(data, max_samples)  # bad records fail before the model loads
    lm, tok = load_for_eval(model, adapter, dtype)
    with EvalProgress(enabled=progress) as bar:
        rows, accuracy = pair_logps(
            lm, tok, records, batch_tokens=batch_tokens, max_len=max_len,
            advance=bar.task("pairs", len(records)),
        )  # fmt: skip
    info = {"model": model, "adapter": adapter, "data": data}
    result = EvalResult({"pairwise_accuracy": accuracy}, {"samples": len(rows)}, None, rows, info)
    out = Path(output) if output is not None else default_output(model, adapter)
    return result, write_results(result, out, "predictions.jsonl")
