"""The settings of the commands besides `train` (whose schema is `schema.Config`), declared
once: flags, `--help`, YAML files, dotted overrides, errors and UI forms all come from here.

`SCHEMAS` maps each command to its schema, for a UI that lists commands and their forms
(`config.settings.describe_fields`).
"""

from __future__ import annotations

from dataclasses import dataclass

from tunesmith.config.bench_settings import (
    BenchDataSettings,
    BenchMemorySettings,
    BenchPreferenceSettings,
    BenchRLSettings,
    BenchServeSettings,
    BenchTrainSettings,
)
from tunesmith.config.deploy_settings import DockerSettings, K8sSettings
from tunesmith.config.export_settings import (
    GgufSettings,
    MergeSettings,
    PruneSettings,
    QuantizeSettings,
    ReportSettings,
)
from tunesmith.config.jobs import JOB_SCHEMAS
from tunesmith.config.schema import EVAL_METRICS, Config, opt
from tunesmith.config.serve_settings import ChatSettings, GenerateSettings, ServeSettings
from tunesmith.config.tool_settings import (
    DATA_FORMATS,
    DTYPES,
    DataInspectSettings,
    DemoSettings,
    EvalCompareSettings,
    ProfileSettings,
    UiSettings,
)


@dataclass
class EvalRunSettings:
    model: str = opt(
        "",
        "a preset name, a Hugging Face model dir, a training run dir or an adapter dir",
        required=True,
        metavar="DIR",
    )
    adapter: str | None = opt(None, "a PEFT adapter dir applied to --model", metavar="DIR")
    data: list[str] = opt([], "dataset files or dirs", required=True, metavar="FILE")
    metrics: str = opt("em", "comma-separated: " + ", ".join(EVAL_METRICS))
    format: str = opt("auto", "record format (auto: detected per record)", choices=DATA_FORMATS)
    max_new_tokens: int = opt(64, "tokens generated per answer at most", min=1, metavar="N")
    batch_size: int = opt(64, "sequences generated together", min=1, metavar="N")
    batch_tokens: int = opt(
        4096, "tokens per teacher-forced pass (loss, classes)", min=8, metavar="N"
    )
    max_len: int = opt(
        4096, "tokens per sample for loss (longer: cut on the right)", min=2, metavar="N"
    )
    max_samples: int = opt(0, "evaluate the first N records; 0 = all", min=0, metavar="N")
    score_reasoning: bool = opt(
        False, "score whole outputs, <think> block included (default: the final answer)"
    )
    dtype: str = opt("float32", "weight dtype", choices=DTYPES)
    output: str | None = opt(
        None,
        "results dir (default: RUN/eval, DIR-eval beside a model dir, runs/eval/NAME for a preset)",
        metavar="DIR",
    )


@dataclass
class EvalScoreSettings:
    input: str = opt("", "predictions file", required=True, metavar="FILE")
    metrics: str = opt("em", "comma-separated: " + ", ".join(EVAL_METRICS))
    score_reasoning: bool = opt(
        False, "score whole outputs, <think> block included (default: the final answer)"
    )
    allow_empty: bool = opt(False, "score empty predictions as wrong answers")
    output: str | None = opt(
        None, "results dir (default: the input file's directory)", metavar="DIR"
    )


SCHEMAS: dict[str, type] = {
    "train": Config,
    "eval run": EvalRunSettings,
    "eval score": EvalScoreSettings,
    "eval compare": EvalCompareSettings,
    "data inspect": DataInspectSettings,
    "export merge": MergeSettings,
    "export prune": PruneSettings,
    "export quantize": QuantizeSettings,
    "export gguf": GgufSettings,
    "export report": ReportSettings,
    "serve": ServeSettings,
    "chat": ChatSettings,
    "generate": GenerateSettings,
    "deploy docker": DockerSettings,
    "deploy k8s": K8sSettings,
    "bench train": BenchTrainSettings,
    "bench data": BenchDataSettings,
    "bench memory": BenchMemorySettings,
    "bench preference": BenchPreferenceSettings,
    "bench rl": BenchRLSettings,
    "bench serve": BenchServeSettings,
    "profile": ProfileSettings,
    "demo": DemoSettings,
    "ui": UiSettings,
}
SCHEMAS.update(JOB_SCHEMAS)
