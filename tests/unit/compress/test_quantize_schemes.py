"""Quantization schemes are checked before any weights load: unknown names, CUDA-only schemes
on a CPU machine, bad group sizes; quantized directories name what they need to load."""

from __future__ import annotations

import json

import pytest
import torch

from tunesmith.compress.quantize_schemes import SCHEMES, check_scheme
from tunesmith.errors import ConfigError
from tunesmith.models.quantize_load import prepare_quantized, quantization_method

needs_cpu_machine = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU refusal")


def test_cpu_schemes_pass_the_check():
    for name in ("int8-weight-only", "int8-dynamic", "int4-weight-only"):
        assert check_scheme(name, 32).name == name
    assert [s.name for s in SCHEMES.values()] == [
        "int8-weight-only", "int8-dynamic", "int4-weight-only", "nf4", "bnb-int8", "gptq"
    ]  # fmt: skip


def test_unknown_scheme_lists_the_valid_ones():
    with pytest.raises(ConfigError) as e:
        check_scheme("int3", 32)
    assert str(e.value) == (
        "--scheme: unknown scheme 'int3'; valid: int8-weight-only (int8 weights, float "
        "activations), int8-dynamic (int8 weights and per-token dynamic int8 activations), "
        "int4-weight-only (grouped int4 weights (stored one per byte on CPU)), nf4 (bitsandbytes "
        "4-bit NormalFloat (CUDA)), bnb-int8 (bitsandbytes LLM.int8() (CUDA)), gptq (4-bit GPTQ "
        "calibrated on the evaluation prompts (CUDA))"
    )


@needs_cpu_machine
@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("nf4", "bitsandbytes 4-bit NormalFloat (CUDA)"),
        ("bnb-int8", "bitsandbytes LLM.int8() (CUDA)"),
        ("gptq", "4-bit GPTQ calibrated on the evaluation prompts (CUDA)"),
    ],
)
def test_cuda_schemes_are_refused_on_cpu(name, what):
    with pytest.raises(ConfigError) as e:
        check_scheme(name, 32)
    assert str(e.value) == (
        f"--scheme {name}: {what} needs a CUDA GPU and this machine has none; on CPU use "
        "int8-weight-only, int8-dynamic or int4-weight-only"
    )


def test_group_size_must_be_a_known_one():
    with pytest.raises(ConfigError, match=r"^--group-size: 48 is not one of 32, 64, 128, 256$"):
        check_scheme("int4-weight-only", 48)


def _model_dir(tmp_path, quant: dict | None):
    config = {"model_type": "llama"} | ({"quantization_config": quant} if quant else {})
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


def test_quantization_method_of_a_directory(tmp_path):
    assert quantization_method(_model_dir(tmp_path, None)) is None
    assert prepare_quantized(tmp_path) is None
    assert quantization_method(_model_dir(tmp_path, {"quant_method": "torchao"})) == "torchao"
    assert prepare_quantized(tmp_path) == "torchao"


@needs_cpu_machine
def test_bitsandbytes_directory_needs_cuda(tmp_path):
    path = _model_dir(tmp_path, {"quant_method": "bitsandbytes", "load_in_4bit": True})
    with pytest.raises(ConfigError) as e:
        prepare_quantized(path, "--model")
    assert str(e.value) == (
        f"--model: '{path}' is quantized with bitsandbytes, which needs a CUDA GPU; this "
        "machine has none (CPU-loadable exports: tunesmith export quantize --scheme "
        "int8-weight-only, int8-dynamic or int4-weight-only)"
    )


def test_unknown_quantization_method_is_refused(tmp_path):
    path = _model_dir(tmp_path, {"quant_method": "hqq"})
    with pytest.raises(ConfigError) as e:
        prepare_quantized(path)
    assert str(e.value) == (
        f"model.name_or_path: '{path}' is quantized with 'hqq', which tunesmith does not load "
        "(supported: torchao, bitsandbytes, gptq, awq)"
    )
