"""`tunesmith profile`: where the time, memory and FLOPs of a train or inference step go.

    report = run_profile(ProfileOptions(model="tiny-llama", batch_size=4, seq_len=128))

A step is one batch of random token ids (batch_size x seq_len, seeded): in train mode a
forward with the LM loss, backward and an AdamW step; in infer mode one forward (a prefill)
under inference_mode. The run: `warmup` steps, `steps` timed steps (throughput), `steps`
steps under torch.profiler (tables, Chrome trace), one step under the FLOP counter, and the
matmul peak of this machine in the same dtype.
"""

from __future__ import annotations

import json
import math
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from tunesmith.config.settings import check_settings
from tunesmith.config.tool_settings import ProfileSettings
from tunesmith.errors import ConfigError
from tunesmith.log import native_stderr_without
from tunesmith.profile.flops import count_flops
from tunesmith.profile.load import load_for_profile
from tunesmith.profile.modules import PREFIX, module_ranges
from tunesmith.profile.peak import matmul_peak, sync

MIB = 2**20


ProfileOptions = ProfileSettings  # the schema of `tunesmith profile` (config/tool_settings.py)


def output_dir(opts: ProfileSettings) -> Path:
    if opts.output:
        return Path(opts.output)
    return Path("runs") / "profile" / f"{Path(opts.model.rstrip('/')).name}-{opts.mode}"


def check_profile(opts: ProfileSettings) -> None:
    """What the schema cannot know: a CUDA device, an output path that is not a file."""
    if opts.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available")
    out = output_dir(opts)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--output: '{out}' exists and is not a directory")


def _device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def make_step(model: torch.nn.Module, mode: str, ids: torch.Tensor) -> Callable[[], None]:
    """One step of `mode` on the batch `ids`."""
    if mode == "infer":
        model.eval()

        def infer() -> None:
            with torch.inference_mode():
                model(input_ids=ids)

        return infer
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)

    def train() -> None:
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return train


def make_forward(model: torch.nn.Module, mode: str, ids: torch.Tensor) -> Callable[[], None]:
    """The forward pass of a step alone (for FLOPs by module)."""

    def forward() -> None:
        with torch.no_grad():
            model(input_ids=ids, labels=ids if mode == "train" else None)

    return forward


def _check_vocab_and_length(model: torch.nn.Module, seq_len: int) -> int:
    config = model.config
    limit = getattr(config, "max_position_embeddings", None)
    if limit is not None and seq_len > limit:
        raise ConfigError(f"--seq-len {seq_len}: the model takes at most {limit} positions")
    return config.vocab_size


def run_profile(opts: ProfileSettings) -> dict:
    """Profile; write OUTPUT/profile.json and OUTPUT/trace.json; return the report."""
    check_settings(opts, check_profile)
    device = _device(opts.device)
    model = load_for_profile(
        opts.model, opts.adapter, dtype=opts.dtype, trainable=opts.mode == "train"
    )
    vocab = _check_vocab_and_length(model, opts.seq_len)
    model.to(device)
    gen = torch.Generator().manual_seed(opts.seed)
    ids = torch.randint(0, vocab, (opts.batch_size, opts.seq_len), generator=gen).to(device)
    step = make_step(model, opts.mode, ids)

    for _ in range(opts.warmup):
        step()
    times = []
    for _ in range(opts.steps):
        sync(device)
        start = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - start)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    out_dir = output_dir(opts)
    out_dir.mkdir(parents=True, exist_ok=True)
    trace = out_dir / "trace.json"
    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with (
        native_stderr_without(),  # libkineto's `USDT: ... profiler_start` lines
        module_ranges(model),
        profile(activities=activities, record_shapes=True, profile_memory=True) as prof,
    ):
        sync(device)
        start = time.perf_counter()
        for _ in range(opts.steps):
            step()
            sync(device)
            prof.step()
        profiled_s = (time.perf_counter() - start) / opts.steps
    prof.export_chrome_trace(str(trace))

    flops = count_flops(step)
    forward_flops = count_flops(make_forward(model, opts.mode, ids)).by_module
    peak, peak_size = matmul_peak(device, getattr(torch, opts.dtype))
    step_s = sum(times) / len(times)
    tokens = opts.batch_size * opts.seq_len
    achieved = flops.total / step_s
    rows = _tables(prof, opts.steps, profiled_s, device, forward_flops, flops.by_op)
    report = {
        "options": asdict(opts),
        "device": _device_name(device),
        "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "tokens_per_step": tokens,
        "step_time_s": step_s,
        "step_times_s": times,
        "tokens_per_s": tokens / step_s,
        "flops_per_step": flops.total,
        "flops_per_token": flops.total / tokens,
        "achieved_flops_per_s": achieved,
        "peak_matmul_flops_per_s": peak,
        "peak_matmul_size": peak_size,
        "fraction_of_peak": achieved / peak,
        "profiled_step_time_s": profiled_s,
        **_peak_memory(device),
        **rows,
        "trace": str(trace),
    }
    (out_dir / "profile.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def _peak_memory(device: torch.device) -> dict:
    if device.type == "cuda":
        return {
            "peak_memory_mib": torch.cuda.max_memory_allocated(device) / MIB,
            "peak_memory_kind": "CUDA memory allocated by torch (profiled steps)",
        }
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux KiB
    return {
        "peak_memory_mib": rss_kib * scale / MIB,
        "peak_memory_kind": "process RSS, whole run",
    }


def _tables(
    prof: profile,
    steps: int,
    step_s: float,
    device: torch.device,
    module_flops: dict[str, int],
    op_flops: dict[str, int],
) -> dict:
    """Per-step rows for modules (inclusive forward time) and operators (self time)."""
    cuda = device.type == "cuda"
    modules, ops = [], []
    for e in prof.key_averages():
        # CPU-side events only: on CUDA, kernels and GPU copies of the ranges are rows of
        # their own; an op's device time already includes the kernels it launched
        if e.device_type != DeviceType.CPU or e.key.startswith("ProfilerStep#"):
            continue
        if e.key.startswith(PREFIX):
            name = e.key[len(PREFIX) :]
            time_us = e.device_time_total if cuda else e.cpu_time_total
            memory = e.device_memory_usage if cuda else e.cpu_memory_usage
            modules.append(
                {
                    "module": name,
                    "calls_per_step": e.count / steps,
                    "time_ms_per_step": time_us / 1e3 / steps,
                    "share_of_step": time_us / 1e6 / steps / step_s,
                    "memory_mib_per_step": memory / MIB / steps,
                    "forward_flops_per_step": module_flops.get(name, 0),
                }
            )
            continue
        time_us = e.self_device_time_total if cuda else e.self_cpu_time_total
        memory = e.self_device_memory_usage if cuda else e.self_cpu_memory_usage
        ops.append(
            {
                "op": e.key,
                "calls_per_step": e.count / steps,
                "self_time_ms_per_step": time_us / 1e3 / steps,
                "self_memory_mib_per_step": memory / MIB / steps,
                "flops_per_step": op_flops.get(e.key, 0),
            }
        )
    total_self = sum(o["self_time_ms_per_step"] for o in ops) or math.inf
    for o in ops:
        o["share_of_self_time"] = o["self_time_ms_per_step"] / total_self
    modules.sort(key=lambda r: -r["time_ms_per_step"])
    by_time = sorted(ops, key=lambda r: -r["self_time_ms_per_step"])
    by_memory = sorted(
        (o for o in ops if o["self_memory_mib_per_step"] > 0),
        key=lambda r: -r["self_memory_mib_per_step"],
    )
    return {"modules": modules, "operators": by_time, "operators_by_memory": by_memory}
