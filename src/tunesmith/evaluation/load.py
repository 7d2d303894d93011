"""The model to evaluate: a preset, a model directory, a run directory, or base + adapter."""

from __future__ import annotations

from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from tunesmith.config.schema import ModelConfig
from tunesmith.errors import ConfigError
from tunesmith.models.load import load_model_and_tokenizer, load_trained
from tunesmith.tokenize.templates import load_tokenizer


def _is_training_output(path: Path) -> bool:
    return path.is_dir() and (
        (path / "adapter").is_dir()
        or (path / "model").is_dir()
        or (path / "adapter_config.json").is_file()
    )


def load_for_eval(
    model: str, adapter: str | None = None, dtype: str = "float32"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """`model`: a preset name, a Hugging Face model directory, a run directory (its adapter
    or full model) or an adapter directory; `adapter`: a PEFT adapter applied to `model`."""
    try:
        if adapter is None and _is_training_output(Path(model)):
            return merge_lora(*load_trained(model, dtype=dtype))
        base, tok = load_model_and_tokenizer(ModelConfig(name_or_path=model, dtype=dtype))
    except ConfigError as e:
        raise ConfigError(str(e).replace("model.name_or_path", "--model", 1)) from None
    if adapter is None:
        return base, tok
    path = Path(adapter)
    if (path / "adapter").is_dir():
        path = path / "adapter"
    if not (path / "adapter_config.json").is_file():
        raise ConfigError(
            f"--adapter: '{adapter}' has no adapter_config.json "
            "(expected a PEFT adapter directory such as RUN/adapter)"
        )
    from peft import PeftModel

    tok = load_tokenizer(path) if (path / "tokenizer.json").is_file() else tok
    return merge_lora(PeftModel.from_pretrained(base, path), tok)


def merge_lora(
    model: PreTrainedModel, tok: PreTrainedTokenizerBase
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A LoRA / DoRA `PeftModel` merged into plain weights (in memory), for fast generation
    through the inference engine; other models come back as they are."""
    from peft import PeftType

    configs = getattr(model, "peft_config", None)
    if configs and all(c.peft_type == PeftType.LORA for c in configs.values()):
        return model.merge_and_unload(), tok
    return model, tok


def default_output(model: str, adapter: str | None) -> Path:
    """Where results go when --output is not given ("beside the model").

    A run directory gets RUN/eval; an adapter or model directory inside a run (RUN/adapter,
    RUN/model) gets RUN/eval too; another directory D gets D-eval beside it; a preset name
    gets runs/eval/NAME.
    """
    target = Path(adapter or model)
    if not target.is_dir():
        return Path("runs") / "eval" / target.name
    if (target / "adapter").is_dir() or (target / "model").is_dir():
        return target / "eval"
    if target.name in ("adapter", "model") and (target.parent / "config.yaml").is_file():
        return target.parent / "eval"
    return target.parent / f"{target.name}-eval"
