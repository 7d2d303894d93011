"""`tunesmith eval harness`: EleutherAI's lm-evaluation-harness on a model, in this process.

    result, paths = run_harness(EvalHarnessSettings(model="runs/demo/run", tasks=["tiny_mc"],
                                                    include_path=["tests/assets/eval/harness"]))

The model loads as for `eval run` (a preset, a model dir, a run dir or base + adapter; LoRA
merged in memory) and is handed to lm-eval's own `HFLM` as a ready `PreTrainedModel`, so the
loglikelihood, rolling loglikelihood and generation requests are lm-eval's, not a copy.
Nothing is downloaded: the Hugging Face hub and datasets run offline, so a task whose data
is not local fails with lm-eval's / datasets' own error.

Results land in the eval directory `eval run` uses (RUN/eval by default): `harness.json`
(`metrics` as `task/metric`, which `eval compare` reads beside `eval.json`), `harness.md`,
`lm_eval_results.json` (lm-eval's whole results) and `harness_samples.jsonl`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from tunesmith.config.jobs import EvalHarnessSettings
from tunesmith.errors import ConfigError
from tunesmith.evaluation.report import fmt, markdown_table
from tunesmith.evaluation.runner import EvalResult

HARNESS_JSON, HARNESS_MD = "harness.json", "harness.md"
RAW_JSON, SAMPLES = "lm_eval_results.json", "harness_samples.jsonl"
EXTRA = "harness"
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def require_lm_eval() -> None:
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"eval harness needs lm-evaluation-harness: pip install 'tunesmith[{EXTRA}]'"
        ) from None


def go_offline() -> None:
    """No hub, no dataset downloads: the environment for anything imported later, and the
    flags of `huggingface_hub` / `datasets` already imported (they read it at import)."""
    os.environ.update(OFFLINE_ENV)
    import datasets.config
    import huggingface_hub.constants

    huggingface_hub.constants.HF_HUB_OFFLINE = True
    datasets.config.HF_HUB_OFFLINE = True
    datasets.config.HF_DATASETS_OFFLINE = True


def task_names(s: EvalHarnessSettings) -> list[str]:
    names = [n.strip() for t in s.tasks for n in t.split(",") if n.strip()]
    if not names:
        raise ConfigError("--tasks: no task names given")
    for path in s.include_path:
        if not Path(path).is_dir():
            raise ConfigError(f"--include-path: '{path}' is not a directory of task YAML files")
    return names


def _task_manager(s: EvalHarnessSettings, names: list[str]) -> Any:
    from lm_eval.tasks import TaskManager

    if s.include_path:  # only local tasks asked for: skip indexing lm-eval's thousands
        local = TaskManager(include_path=list(s.include_path), include_defaults=False)
        if all(n in local.all_tasks for n in names):
            return local
    manager = TaskManager(include_path=list(s.include_path) or None)
    missing = [n for n in names if n not in manager.all_tasks]
    if missing:
        where = f" or in {', '.join(s.include_path)}" if s.include_path else ""
        raise ConfigError(
            f"--tasks: unknown task(s) {', '.join(missing)} (not in lm-eval's task list{where}; "
            "`lm-eval ls tasks` lists them, --include-path adds a directory of task YAML files)"
        )
    return manager


def harness_metrics(results: dict[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    """lm-eval's `results` as ({task/metric: value}, {task/metric: stderr}); a filter other
    than `none` is kept as `task/metric:filter`."""
    metrics: dict[str, float] = {}
    stderr: dict[str, float] = {}
    for task, values in results.items():
        for key, value in values.items():
            if "," not in key or not isinstance(value, int | float) or isinstance(value, bool):
                continue
            metric, filt = key.split(",", 1)
            name = f"{task}/{metric.removesuffix('_stderr')}"
            name += "" if filt == "none" else f":{filt}"
            (stderr if metric.endswith("_stderr") else metrics)[name] = float(value)
    return metrics, stderr


def run_harness(s: EvalHarnessSettings) -> tuple[EvalResult, dict[str, Path]]:
    """Run lm-eval's `simple_evaluate` on the model; write the results (module docstring)."""
    require_lm_eval()
    names = task_names(s)
    go_offline()
    manager = _task_manager(s, names)  # unknown tasks fail before the model loads
    from lm_eval.models.huggingface import HFLM

    from tunesmith.evaluation.load import default_output, load_for_eval

    model, tok = load_for_eval(s.model, s.adapter, s.dtype)
    model.eval()
    hf_log = logging.getLogger("lm_eval.models.huggingface")
    level = hf_log.level
    hf_log.setLevel(logging.ERROR)  # "pretrained is not a str": a loaded model, as intended
    try:
        lm = HFLM(
            pretrained=model,
            tokenizer=tok,
            batch_size=s.batch_size,
            max_length=s.max_length or None,
            max_gen_toks=s.max_gen_toks,
        )
    finally:
        hf_log.setLevel(level)
    try:
        out = _evaluate(lm, names, manager, s)
    except ConnectionError as e:  # datasets / hub in offline mode: the task's data is remote
        raise ConfigError(
            f"--tasks: {e}; tunesmith runs lm-eval offline, so a task's data must be local "
            "(a task YAML with dataset_path: json and data_files, under --include-path)"
        ) from None
    metrics, stderr = harness_metrics(out["results"])
    counts = {f"{t}/samples": int(n["effective"]) for t, n in out.get("n-samples", {}).items()}
    info = {
        "model": s.model,
        "adapter": s.adapter,
        "tasks": names,
        "include_path": list(s.include_path),
        "num_fewshot": s.num_fewshot,
        "limit": s.limit or None,
        "stderr": stderr,
        "versions": out.get("versions", {}),
        "lm_eval": _version(),
    }
    result = EvalResult(metrics, counts, None, [], info)
    target = Path(s.output) if s.output is not None else default_output(s.model, s.adapter)
    return result, write_harness(result, out, target)


def _evaluate(lm: Any, names: list[str], manager: Any, s: EvalHarnessSettings) -> dict[str, Any]:
    from lm_eval import simple_evaluate

    return simple_evaluate(
        model=lm,
        tasks=names,
        num_fewshot=s.num_fewshot,
        limit=s.limit or None,
        log_samples=not s.skip_samples,
        apply_chat_template=s.apply_chat_template,
        fewshot_as_multiturn=s.fewshot_as_multiturn,
        task_manager=manager,
        random_seed=s.seed,
        numpy_random_seed=s.seed,
        torch_random_seed=s.seed,
        fewshot_random_seed=s.seed,
    )


def _version() -> str:
    from importlib import metadata

    return metadata.version("lm_eval")


def write_harness(result: EvalResult, out: dict[str, Any], target: Path) -> dict[str, Path]:
    target.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": target / HARNESS_JSON,
        "markdown": target / HARNESS_MD,
        "raw": target / RAW_JSON,
    }
    paths["json"].write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    table = [[k, f"{v:.4f}", fmt(result.info["stderr"].get(k))] for k, v in result.metrics.items()]
    paths["markdown"].write_text(markdown_table(["metric", "value", "stderr"], table), "utf-8")
    raw = {k: v for k, v in out.items() if k != "samples"}
    paths["raw"].write_text(json.dumps(raw, indent=2, default=str) + "\n", encoding="utf-8")
    if out.get("samples"):
        paths["samples"] = target / SAMPLES
        with paths["samples"].open("w", encoding="utf-8") as f:
            for task, rows in out["samples"].items():
                for row in rows:
                    f.write(json.dumps({"task": task, **row}, default=str) + "\n")
    return paths
