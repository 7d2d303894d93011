"""Model FLOPs and MFU for `tunesmith bench train`.

A training step's FLOPs (forward + backward, counted as executed by `profile.flops`: 2 per
multiply-add, matmuls and attention; for LoRA the frozen base's weight gradients are not
computed and not counted) are a function of each sample's length n: a*n for the per-token
work (linears, head) plus b*n^2 for attention. a and b are fitted from the counted FLOPs of
two single-sample steps, and the epoch's model FLOPs are the sum over its real samples, the
same for both arms (padding is not useful work). Model FLOP/s = that sum / train seconds;
MFU = model FLOP/s / the matmul peak measured in the same run, in the arm's precision.
"""

from __future__ import annotations

import torch

from tunesmith.bench.spec import ArmSpec
from tunesmith.profile.flops import count_flops
from tunesmith.profile.peak import matmul_peak

FIT_LENGTHS = (64, 128)


def _model(spec: ArmSpec) -> torch.nn.Module:
    from tunesmith.adapters.peft_setup import attach_method
    from tunesmith.config.schema import LoraConfig, MethodConfig, ModelConfig
    from tunesmith.models.load import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(ModelConfig(name_or_path=spec.model), seed=spec.seed)
    lora = LoraConfig(
        r=spec.lora_r,
        alpha=spec.lora_alpha,
        dropout=0.0,
        target_modules=list(spec.target_modules),
    )
    return attach_method(model, MethodConfig(name=spec.method, lora=lora), tok)


def flops_fit(spec: ArmSpec) -> tuple[float, float]:
    """(a, b) with step FLOPs(n) = a*n + b*n^2 for one sample of n tokens."""
    model = _model(spec).train()
    counts = []
    gen = torch.Generator().manual_seed(0)
    for n in FIT_LENGTHS:
        ids = torch.randint(3, 4096, (1, n), generator=gen)

        def step(ids: torch.Tensor = ids) -> None:
            model(input_ids=ids, labels=ids).loss.backward()

        counts.append(count_flops(step).total)
        model.zero_grad(set_to_none=True)
    (n1, n2), (f1, f2) = FIT_LENGTHS, counts
    b = (f2 * n1 - f1 * n2) / (n1 * n2 * (n2 - n1))
    a = (f1 - b * n1 * n1) / n1
    return a, b


def epoch_flops(sizes: list[int], fit: tuple[float, float]) -> float:
    a, b = fit
    return sum(a * n + b * n * n for n in sizes)


def peaks(threads: int) -> dict[str, float]:
    """The CPU (or CUDA) matmul peak in fp32 and bf16, FLOP/s, at the arms' thread count."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return {
            "fp32": matmul_peak(device, torch.float32)[0],
            "bf16": matmul_peak(device, torch.bfloat16)[0],
        }
    finally:
        torch.set_num_threads(before)


def add_mfu(report: dict, total_flops: float, peak: dict[str, float], precision: str) -> None:
    """Model FLOP/s and MFU of both arms into `report`."""
    report["model_flops"] = {
        "epoch_flops": total_flops,
        "peak_flops_per_s": peak,
        "precision": precision,
    }
    for arm in ("baseline", "tunesmith"):
        r = report[arm]
        r["model_flops_per_s"] = total_flops / max(r["train_seconds"], 1e-9)
        r["model_gflops_per_s"] = r["model_flops_per_s"] / 1e9
        r["mfu"] = r["model_flops_per_s"] / peak[precision]
        r["mfu_of_bf16_peak"] = r["model_flops_per_s"] / peak["bf16"]
