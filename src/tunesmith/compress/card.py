"""The model card (README.md) of an export: merged, pruned, quantized or GGUF.

Built from the export's report and the source's own card: an export of a tunesmith output
carries the source's method / data / training / results sections under "Provenance".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesmith.model_card import ModelCard, base_license, provenance, table, write_card

_WHAT = {
    "merge": "the LoRA adapter `{adapter}` merged into its base `{base}`",
    "prune": "`{model}` pruned ({mode})",
    "quantize": "`{source}` quantized with {scheme} ({library})",
    "gguf": "`{source}` converted to GGUF ({outtype}) for llama.cpp",
}


def _rows(report: dict) -> list[tuple[str, Any]]:
    skip = {"kind", "measured", "baseline", "tensor_types", "file", "modelfile"}
    rows = [(k, v) for k, v in report.items() if k not in skip and not isinstance(v, dict)]
    for name in ("baseline", "measured"):
        for k, v in (report.get(name) or {}).items():
            if isinstance(v, int | float | str):
                rows.append((f"{name}.{k}", v))
    if report.get("tensor_types"):
        types = ", ".join(f"{n} {k}" for k, n in report["tensor_types"].items())
        rows.append(("tensor types", types))
    return rows


def _load(kind: str, out: Path, report: dict) -> str:
    if kind == "gguf":
        name = Path(report["file"]).name
        return (
            f"llama.cpp: `llama-cli -m {out / name} -cnv` or "
            f"`llama-server -m {out / name}` (OpenAI API on port 8080).\n\n"
            f"Ollama: `ollama create NAME -f {out / 'Modelfile'}` (the Modelfile beside it "
            "holds the chat template), then `ollama run NAME`."
        )
    extra = (
        f"\n\nLoading the {report.get('quant_method') or 'quantized'} weights needs "
        f"{report.get('library', 'its library')} installed."
        if kind == "quantize"
        else ""
    )
    text = (
        "```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        f'model = AutoModelForCausalLM.from_pretrained("{out}")\n'
        f'tok = AutoTokenizer.from_pretrained("{out}")\n```{extra}\n\n'
        f"Serve it over the OpenAI API: `tunesmith serve --model {out}`."
    )
    if kind != "quantize":
        text += f"\n\nFor llama.cpp: `tunesmith export gguf --model {out} --output GGUF_DIR`."
    return text


def export_card(kind: str, report: dict, source: Path, out: Path) -> ModelCard:
    """The card of export `kind` from `source` (the adapter dir for merge) into `out`."""
    src_meta, carried = provenance(source)
    base = str(report["base"]) if kind == "merge" else str(source)
    own_base = {str(source.parent / "base"), str((source.parent / "base").resolve())}
    if kind == "merge" and src_meta.get("base_model") and base in own_base:
        base = str(src_meta["base_model"])  # the preset the run's base/ was written from
    relation = {"merge": "finetune", "prune": "finetune"}.get(kind, "quantized")
    tags = ["tunesmith", {"merge": "merged-lora"}.get(kind, kind)]
    tags += [t for t in src_meta.get("tags") or [] if t not in ("tunesmith", "peft")]
    license = src_meta.get("license")
    if license is None and kind == "merge":
        from tunesmith.models.load import resolve_model_dir

        try:
            license = base_license(resolve_model_dir(base))
        except Exception:  # a card never fails an export
            license = None
    sections = [("Export", table(_rows(report)))]
    if carried:
        sections.append(("Provenance", carried))
    sections.append(("How to load", _load(kind, out, report)))
    what = _WHAT[kind].format_map({k: v for k, v in report.items() if isinstance(v, str | int)})
    return ModelCard(
        title=f"{out.name} ({kind})",
        summary=f"{what[0].upper()}{what[1:]}, written by `tunesmith export {kind}`. "
        f"Every figure below is in `export_report.json` beside this card.",
        base_model=base,
        relation=relation,
        library_name="gguf" if kind == "gguf" else "transformers",
        tags=tags,
        sections=sections,
        license=license,
    )


def write_export_card(kind: str, report: dict, source: Path, stage: Path, out: Path) -> Path:
    """Write the card into `stage` (the staged directory that becomes `out`)."""
    return write_card(stage, export_card(kind, report, Path(source), Path(out)))
