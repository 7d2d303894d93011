"""What `deploy docker` and `deploy k8s` share: the served model, the server's command line,
versions, the dashboard files, and writing an output directory all at once or not at all."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

import yaml

from tunesmith.errors import ConfigError
from tunesmith.output_dir import check_output_dir, staged_dir

PORT = 8000
MODEL_PATH = "/models/model"
"""where the served model lives inside the container (mounted or copied)"""
APP_UID = 10001
"""the image's non-root user and group id (numeric, so Kubernetes can check runAsNonRoot)"""
DASHBOARD_ASSET = ("assets", "deploy", "grafana-dashboard.json")
DASHBOARD_UID = "tunesmith-serve"


def tunesmith_version() -> str:
    try:
        return metadata.version("tunesmith")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"


def torch_version() -> str:
    """The installed torch release without its local tag (2.13.0+cpu -> 2.13.0)."""
    return metadata.version("torch").split("+")[0]


def default_image(variant: str) -> str:
    return f"tunesmith-serve:{tunesmith_version()}-{variant}"


def serve_args(model: str, *, drain_seconds: float, threads: int | None = None) -> list[str]:
    """Arguments of `tunesmith serve` in the container (the image's entrypoint)."""
    args = ["--model", model, "--host", "0.0.0.0", "--port", str(PORT)]
    args += ["--drain-seconds", f"{drain_seconds:g}"]
    if threads is not None:
        args += ["--threads", str(threads)]
    return args


@dataclass(frozen=True)
class LocalModel:
    """The `--model` of `deploy docker`: a preset (nothing to ship) or a directory."""

    preset: str | None = None
    path: Path | None = None
    """directory on this machine"""
    serve_dir: Path | None = None
    """the part of `path` that `serve` needs (a run's adapter/ or model/, else `path`)"""

    @property
    def serve_arg(self) -> str:
        return self.preset if self.preset is not None else MODEL_PATH


def resolve_local_model(model: str) -> LocalModel:
    """A preset name or a directory `tunesmith serve` can load inside the container."""
    from tunesmith.models.registry import PRESETS

    if model in PRESETS:
        return LocalModel(preset=model)
    path = Path(model).expanduser()
    if not path.is_dir():
        raise ConfigError(
            f"--model: '{model}' is neither a preset ({', '.join(sorted(PRESETS))}) "
            "nor an existing directory"
        )
    path = path.resolve()
    serve_dir = next((path / d for d in ("adapter", "model") if (path / d).is_dir()), path)
    adapter_config = serve_dir / "adapter_config.json"
    if adapter_config.is_file():
        from tunesmith.models.adapter_base import try_adapter_base

        base = json.loads(adapter_config.read_text()).get("base_model_name_or_path")
        if try_adapter_base(serve_dir, base) not in PRESETS:  # a preset, also under an old path
            raise ConfigError(
                f"--model: the adapter in '{serve_dir}' is on the base '{base}', which the "
                "container will not have; merge it first (tunesmith export merge --adapter "
                f"{model} --output MERGED) and deploy MERGED"
            )
    elif not (serve_dir / "config.json").is_file():
        raise ConfigError(
            f"--model: '{serve_dir}' has no config.json or adapter_config.json (expected a "
            "Hugging Face model directory, a PEFT adapter directory or a tunesmith run directory)"
        )
    return LocalModel(path=path, serve_dir=serve_dir)


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: object) -> bool:
        return True


def to_yaml(data: object, header: str) -> str:
    """YAML for people and kubectl: key order kept, no &anchors for repeated values."""
    return header + yaml.dump(data, Dumper=_NoAliases, sort_keys=False)


def dashboard_json() -> str:
    """The shipped Grafana dashboard for the server's metrics (package data)."""
    return resources.files("tunesmith").joinpath(*DASHBOARD_ASSET).read_text(encoding="utf-8")


_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


def check_quantity(key: str, value: str, example: str) -> str:
    """A Kubernetes resource quantity such as 4, 500m or 16Gi."""
    if not _QUANTITY.match(value) or float(re.sub(r"[a-zA-Z]+$", "", value)) <= 0:
        raise ConfigError(
            f"{key} '{value}': expected a positive Kubernetes quantity such as {example}"
        )
    return value


Files = dict[str, "str | Path"]
"""relative path -> text to write, or a file / directory on this machine to copy"""


def write_output(output: str | Path, files: Files, *, overwrite: bool) -> Path:
    """Write every file into a fresh directory, then move it into place: an error part way
    leaves `output` as it was. A non-empty `output` is replaced only with `overwrite`."""
    out = Path(output).expanduser()
    check_output_dir(out, overwrite)
    with staged_dir(out) as staging:
        for rel, content in files.items():
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Path):
                if content.is_dir():
                    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
                    shutil.copytree(content, target, ignore=ignore)
                else:
                    shutil.copy2(content, target)
            else:
                target.write_text(content, encoding="utf-8")
    return out
