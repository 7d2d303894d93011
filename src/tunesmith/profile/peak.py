"""This machine's matmul peak, measured: the best FLOP/s of a large square matmul."""

from __future__ import annotations

import time

import torch

CPU_SIZE, CUDA_SIZE = 1024, 8192
CPU_REPEATS, CUDA_REPEATS = 5, 20


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype) -> tuple[float, int]:
    """(FLOP/s, matrix size) of the fastest of a few n x n @ n x n products in `dtype`."""
    n = CUDA_SIZE if device.type == "cuda" else CPU_SIZE
    repeats = CUDA_REPEATS if device.type == "cuda" else CPU_REPEATS
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    for _ in range(2):
        torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best, n
