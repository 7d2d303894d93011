"""The settings of `tunesmith deploy docker | k8s`, declared once: flags, `--help`, YAML files,
dotted overrides, errors and UI forms come from these (`deploy/` takes them as its options).

    tunesmith deploy k8s k8s.yaml gpus=1 --output deploy/gpu
"""

from __future__ import annotations

from dataclasses import dataclass

from tunesmith.config.schema import opt

OUTPUT = "directory to write"
OVERWRITE = "replace the output if it exists and is not empty"
IMAGE = "image name:tag (default: tunesmith-serve:VERSION-cpu, or -cuda)"
DRAIN = "the server's SIGTERM drain (`serve --drain-seconds`); stop timeouts follow it"


@dataclass
class DockerSettings:
    model: str = opt(
        "",
        "preset, model directory, or run directory (an adapter's base must be a preset name; "
        "merge other adapters first with `tunesmith export merge`)",
        required=True,
        metavar="MODEL",
    )
    output: str = opt("", OUTPUT, required=True, metavar="DIR")
    overwrite: bool = opt(False, OVERWRITE)
    image: str | None = opt(None, IMAGE)
    drain_seconds: float = opt(30.0, DRAIN, min=0.0, metavar="S")
    variant: str = opt(
        "cpu",
        "torch build: cpu (torch's CPU wheel) or cuda (torch's CUDA wheel from PyPI)",
        choices=["cpu", "cuda"],
    )
    copy_model: bool = opt(
        False, "copy the model into the image (default: mount it read-only at run time)"
    )
    base_image: str | None = opt(None, "FROM image (default: python:3.X-slim-bookworm)")
    source: str | None = opt(None, "tunesmith source tree (default: this one)", metavar="DIR")
    constraints: str | None = opt(
        None, "pinned versions (default: SOURCE/constraints.txt)", metavar="FILE"
    )


@dataclass
class K8sSettings:
    model_uri: str = opt(
        "",
        "pvc://CLAIM[/PATH], image:///PATH (a model inside the image) or a preset name",
        required=True,
        metavar="URI",
    )
    output: str = opt("", OUTPUT, required=True, metavar="DIR")
    overwrite: bool = opt(False, OVERWRITE)
    image: str | None = opt(None, IMAGE)
    drain_seconds: float = opt(30.0, DRAIN, min=0.0, metavar="S")
    name: str = opt("tunesmith", "name of every object (a DNS label)")
    namespace: str | None = opt(None, "namespace (default: kubectl's)")
    cpu: str = opt("4", "CPU request per pod, e.g. 4 or 500m")
    memory: str = opt("16Gi", "memory request and limit per pod")
    gpus: int = opt(0, "nvidia.com/gpu limit per pod", min=0, metavar="N")
    min_replicas: int = opt(2, "HPA minimum (and replicas)", min=1, metavar="N")
    max_replicas: int = opt(8, "HPA maximum", min=1, metavar="N")
    target_cpu: int = opt(70, "HPA: average CPU utilisation to hold, %", min=1, max=100)
    target_waiting: float | None = opt(
        None,
        "HPA: also hold N waiting requests per pod (needs prometheus-adapter)",
        gt=0.0,
        metavar="N",
    )
    prestop_seconds: int = opt(5, "preStop sleep before SIGTERM", min=0, metavar="S")
    api_key_secret: str | None = opt(
        "tunesmith-api-key",
        "Secret whose key `api-key` becomes TUNESMITH_API_KEY (null / --no-api-key: serve "
        "without an API key)",
        metavar="NAME",
    )
