"""Write a float model directory as one GGUF file (llama.cpp, Ollama) with a Modelfile.

    report = export_gguf("runs/demo/merged", "runs/demo/gguf", outtype="q8_0")
    # runs/demo/gguf: model.gguf, Modelfile, export_report.json
    export_gguf("runs/demo/merged", "demo-f16.gguf")   # the file, and a Modelfile beside it

Tensor types follow llama.cpp's converter: 1-D tensors, norms, biases and the MoE router stay
F32; every other weight is `outtype` (f32, f16 or q8_0; q8_0 falls back to F16 for a tensor
whose rows are not a multiple of 32 values). The file is written next to its final place and
renamed into it, then read back with gguf.GGUFReader to check every tensor arrived.
"""

from __future__ import annotations

import os
from pathlib import Path

import gguf
import numpy as np
import torch

from tunesmith.compress import report as rep
from tunesmith.compress.card import write_export_card
from tunesmith.compress.gguf_arch import ARCHS
from tunesmith.compress.gguf_modelfile import modelfile
from tunesmith.compress.gguf_vocab import add_vocab
from tunesmith.errors import ConfigError
from tunesmith.output_dir import check_output_dir

Q = gguf.GGMLQuantizationType
OUTTYPES = {
    "f16": (gguf.LlamaFileType.MOSTLY_F16, Q.F16),
    "q8_0": (gguf.LlamaFileType.MOSTLY_Q8_0, Q.Q8_0),
    "f32": (gguf.LlamaFileType.ALL_F32, Q.F32),
}
GGUF_NAME, MODELFILE = "model.gguf", "Modelfile"


def tensor_type(name: str, data: np.ndarray, outtype: str) -> gguf.GGMLQuantizationType:
    """The GGUF type a tensor is stored in (see the module docstring)."""
    keep_f32 = data.ndim <= 1 or name.endswith("_norm.weight") or not name.endswith(".weight")
    if keep_f32 or name.endswith("ffn_gate_inp.weight"):
        return Q.F32
    qtype = OUTTYPES[outtype][1]
    if qtype == Q.Q8_0 and data.shape[-1] % gguf.GGML_QUANT_SIZES[Q.Q8_0][0]:
        return Q.F16
    return qtype


def _encode(data: np.ndarray, qtype: gguf.GGMLQuantizationType) -> np.ndarray:
    if qtype == Q.F32:
        return data.astype(np.float32)
    if qtype == Q.F16:
        return data.astype(np.float16)
    return gguf.quants.quantize(data.astype(np.float32), qtype)


def _paths(output: Path) -> tuple[Path, Path, Path | None]:
    """(gguf file, Modelfile, report) for a directory or a .gguf file `output`."""
    if output.suffix == ".gguf":
        return output, output.parent / MODELFILE, None
    return output / GGUF_NAME, output / MODELFILE, output / rep.REPORT_NAME


def _check_paths(output: Path, files: list[Path], overwrite: bool) -> None:
    if output.suffix != ".gguf":
        check_output_dir(output, overwrite)
    if overwrite:
        return
    for path in files:
        if path.exists():
            raise ConfigError(f"--output: '{path}' exists (pass --overwrite to replace it)")


def _write(path: Path, model: torch.nn.Module, tok: object, outtype: str, name: str) -> dict:
    config = model.config
    spec = ARCHS[config.model_type]
    writer = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[spec.arch])
    writer.add_name(name)
    writer.add_file_type(OUTTYPES[outtype][0])
    if outtype == "q8_0":
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    spec.metadata(writer, config)
    vocab = add_vocab(writer, tok, config.vocab_size)
    names = gguf.get_tensor_name_map(spec.arch, config.num_hidden_layers)
    types: dict[str, int] = {}
    with torch.no_grad():
        for hf_name, tensor in model.state_dict().items():
            for new_name, t in spec.tensors(hf_name, tensor, config, names):
                data = t.detach().float().contiguous().numpy()
                qtype = tensor_type(new_name, data, outtype)
                writer.add_tensor(new_name, _encode(data, qtype), raw_dtype=qtype)
                types[qtype.name] = types.get(qtype.name, 0) + 1
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {"architecture": gguf.MODEL_ARCH_NAMES[spec.arch], "tensor_types": types, **vocab}


def export_gguf(
    model: str, output: str | Path, outtype: str = "f16", overwrite: bool = False
) -> dict:
    """Convert, write the GGUF and a Modelfile (and export_report.json for a directory)."""
    from transformers import AutoConfig

    from tunesmith.compress.report import source_model_dir

    if outtype not in OUTTYPES:
        raise ConfigError(f"--outtype: '{outtype}' is not one of {', '.join(OUTTYPES)}")
    src = source_model_dir(model, "convert")
    config = AutoConfig.from_pretrained(src, local_files_only=True)
    if config.model_type not in ARCHS:
        raise ConfigError(
            f"--model: '{src}' is a {config.model_type} model; tunesmith export gguf writes "
            f"{', '.join(ARCHS)} models"
        )
    output = Path(output).expanduser()
    gguf_path, modelfile_path, report_path = _paths(output)
    _check_paths(output, [gguf_path, modelfile_path], overwrite)

    from tunesmith.config.schema import ModelConfig
    from tunesmith.models.load import load_model_and_tokenizer

    hf_model, tok = load_model_and_tokenizer(ModelConfig(name_or_path=str(src), dtype="float32"))
    gguf_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = gguf_path.parent / f".{gguf_path.name}.partial-{os.getpid()}"
    try:
        info = _write(tmp, hf_model, tok, outtype, src.name)
        tensors = len(gguf.GGUFReader(tmp).tensors)
        if tensors != sum(info["tensor_types"].values()):
            raise RuntimeError(f"{tmp}: {tensors} tensors read back, expected more")
        if report_path is not None and overwrite:
            for stale in output.iterdir():  # replace the directory's contents, as merge does
                if stale.is_file() and stale != tmp:
                    stale.unlink()
        tmp.rename(gguf_path)
    finally:
        if tmp.exists():
            tmp.unlink()
    modelfile_path.write_text(modelfile(gguf_path.name, tok), encoding="utf-8")
    report = {
        "kind": "gguf",
        "source": str(src),
        "file": str(gguf_path),
        "outtype": outtype,
        "model_type": config.model_type,
        **info,
        "tensors": tensors,
        "parameters": rep.param_count(hf_model),
        "size_bytes": gguf_path.stat().st_size,
        "modelfile": str(modelfile_path),
    }
    if report_path is not None:  # a directory: the report and the model card
        rep.write_report(output, report)
        write_export_card("gguf", report, src, output, output)
    return report


def summary(report: dict) -> list[str]:
    """The lines `tunesmith export gguf` prints."""
    types = ", ".join(f"{n} {k}" for k, n in report["tensor_types"].items())
    return [
        f"wrote {report['file']} ({report['architecture']}, {report['outtype']}) "
        f"from {report['source']}",
        f"  parameters         {report['parameters']:,}",
        f"  size on disk       {report['size_bytes'] / 2**20:.2f} MiB",
        f"  tensors            {report['tensors']} ({types})",
        f"  tokenizer          gpt2 BPE, {report['tokens']} tokens, {report['merges']} merges, "
        f"pre-tokenizer {report['pre']}",
        f"  Modelfile          {report['modelfile']}",
    ]
