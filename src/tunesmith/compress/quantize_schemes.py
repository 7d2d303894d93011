"""The quantization schemes `tunesmith export quantize` knows, and what each needs.

CPU schemes go through torchao (`transformers.TorchAoConfig`), which saves quantized tensors
into model.safetensors (with torchao metadata) and reloads them as they are:

- int8-weight-only: int8 weights, one scale per output row; activations stay float.
- int8-dynamic: int8 weights and int8 activations, quantized per token on the fly.
- int4-weight-only: int4 values in groups of `group_size` with one scale each. On x86 CPUs
  torchao 0.18 has no packed int4 kernel (Int4WeightOnlyConfig needs the CUDA `mslk` kernels;
  its KleidiAI path is ARM-only and int8-activation), so the values are stored one per int8
  byte and dequantized before a float matmul: int4 accuracy, int8 size on disk.

CUDA schemes (never run on the CPU-only machines tunesmith is tested on):

- nf4: bitsandbytes 4-bit NormalFloat with double quantization, bfloat16 compute.
- bnb-int8: bitsandbytes LLM.int8() (outlier columns in float16).
- gptq: 4-bit GPTQ through transformers' GPTQConfig (the `gptqmodel` package), calibrated on
  the evaluation prompts.

Only nn.Linear weights are quantized; embeddings and the output head stay float (torchao's
default), and so do DeepSeek-V3's fused routed-expert tensors, which torchao 0.18's int8
tensors cannot run through transformers' grouped expert matmul.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import torch

from tunesmith.errors import ConfigError

CPU_HINT = "int8-weight-only, int8-dynamic or int4-weight-only"
GROUP_SIZES = (32, 64, 128, 256)


@dataclass(frozen=True)
class Scheme:
    name: str
    device: str
    """cpu: runs anywhere; cuda: needs a CUDA GPU"""
    package: str
    """the import name of the library that quantizes"""
    install: str
    help: str
    build: Callable[[int, list[str], object], object]
    """(group_size, calibration texts, tokenizer) -> a transformers quantization config"""


def _torchao(kind: str) -> Callable[[int, list[str], object], object]:
    def build(group_size: int, texts: list[str], tok: object) -> object:
        from torchao.quantization import (
            Int8DynamicActivationInt8WeightConfig,
            Int8WeightOnlyConfig,
            IntxWeightOnlyConfig,
        )
        from torchao.quantization.granularity import PerGroup
        from transformers import TorchAoConfig

        configs = {
            "int8-weight-only": lambda: Int8WeightOnlyConfig(),
            "int8-dynamic": lambda: Int8DynamicActivationInt8WeightConfig(),
            "int4-weight-only": lambda: IntxWeightOnlyConfig(
                weight_dtype=torch.int4, granularity=PerGroup(group_size)
            ),
        }
        return TorchAoConfig(configs[kind]())

    return build


def _bnb(bits: int) -> Callable[[int, list[str], object], object]:
    def build(group_size: int, texts: list[str], tok: object) -> object:
        from transformers import BitsAndBytesConfig

        if bits == 4:
            return BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=torch.bfloat16,
            )
        return BitsAndBytesConfig(load_in_8bit=True)

    return build


def _gptq(group_size: int, texts: list[str], tok: object) -> object:
    from transformers import GPTQConfig

    return GPTQConfig(bits=4, group_size=group_size, dataset=texts, tokenizer=tok)


TORCHAO = "pip install 'torchao>=0.18'"
SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in (
        Scheme(
            "int8-weight-only", "cpu", "torchao", TORCHAO, "int8 weights, float activations",
            _torchao("int8-weight-only"),
        ),
        Scheme(
            "int8-dynamic", "cpu", "torchao", TORCHAO,
            "int8 weights and per-token dynamic int8 activations", _torchao("int8-dynamic"),
        ),
        Scheme(
            "int4-weight-only", "cpu", "torchao", TORCHAO,
            "grouped int4 weights (stored one per byte on CPU)", _torchao("int4-weight-only"),
        ),
        Scheme(
            "nf4", "cuda", "bitsandbytes", "pip install 'tunesmith[cuda]'",
            "bitsandbytes 4-bit NormalFloat (CUDA)", _bnb(4),
        ),
        Scheme(
            "bnb-int8", "cuda", "bitsandbytes", "pip install 'tunesmith[cuda]'",
            "bitsandbytes LLM.int8() (CUDA)", _bnb(8),
        ),
        Scheme(
            "gptq", "cuda", "gptqmodel", "pip install gptqmodel optimum",
            "4-bit GPTQ calibrated on the evaluation prompts (CUDA)", _gptq,
        ),
    )
}  # fmt: skip


def check_scheme(name: str, group_size: int) -> Scheme:
    """The scheme, or a ConfigError if it is unknown or cannot run here (before any load)."""
    scheme = SCHEMES.get(name)
    if scheme is None:
        valid = ", ".join(f"{s.name} ({s.help})" for s in SCHEMES.values())
        raise ConfigError(f"--scheme: unknown scheme '{name}'; valid: {valid}")
    if group_size not in GROUP_SIZES:
        raise ConfigError(
            f"--group-size: {group_size} is not one of {', '.join(map(str, GROUP_SIZES))}"
        )
    if scheme.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"--scheme {name}: {scheme.help} needs a CUDA GPU and this machine has none; "
            f"on CPU use {CPU_HINT}"
        )
    if importlib.util.find_spec(scheme.package) is None:
        raise ConfigError(
            f"--scheme {name}: needs the '{scheme.package}' package, which is not installed "
            f"({scheme.install})"
        )
    return scheme
