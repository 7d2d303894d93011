"""Activation offloading: refused with a clear error on CPU; a no-op context when off; on
CUDA the same gradients with saved activations in host memory."""

from __future__ import annotations

import pytest
import torch

from tunesmith.errors import ConfigError
from tunesmith.training.offload import check_offload, offload_notice, offloaded


def test_cpu_refuses_with_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="train.offload_activations: .* needs a CUDA device"):
        check_offload(True, torch.device("cpu"))
    with (
        pytest.raises(ConfigError, match="this run is on cpu"),
        offloaded(True, torch.device("cpu")),
    ):
        pass
    check_offload(False, torch.device("cpu"))  # off: nothing to check


def test_off_is_a_plain_forward() -> None:
    x = torch.randn(4, 3, requires_grad=True)
    with offloaded(False, torch.device("cpu")):
        y = (x.exp() * 2).sum()
    y.backward()
    torch.testing.assert_close(x.grad, 2 * x.detach().exp())


def test_notice_without_checkpointing() -> None:
    assert "enable train.gradient_checkpointing" in offload_notice(True, False)
    assert offload_notice(True, True) is None and offload_notice(False, False) is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="activation offloading is CUDA-only")
def test_cuda_same_grads_activations_on_host() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(*[torch.nn.Linear(1024, 1024) for _ in range(8)]).cuda()
    x = torch.randn(4096, 1024, device="cuda")

    def forward_memory(offload: bool) -> tuple[int, torch.Tensor]:
        net.zero_grad(set_to_none=True)
        base = torch.cuda.memory_allocated()
        with offloaded(offload, torch.device("cuda")):
            out = net(x).square().mean()
        held = torch.cuda.memory_allocated() - base  # what autograd keeps for backward
        out.backward()
        return held, net[0].weight.grad.clone()

    held_gpu, ref = forward_memory(False)
    held_host, got = forward_memory(True)
    torch.testing.assert_close(got, ref)
    # 8 layers x a 16 MiB input each stay on the GPU without offloading; with it, none do
    assert held_gpu >= 8 * 4096 * 1024 * 4
    assert held_host < held_gpu / 4
