"""`tunesmith deploy docker` and `deploy k8s` as a user runs them (a subprocess), with the
generated files checked by the tools an operator would use: hadolint, kubernetes-validate
(offline, bundled OpenAPI schemas), check-jsonschema with the compose spec."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path


def tool(name: str) -> str:
    path = shutil.which(name) or str(Path(sys.executable).parent / name)
    assert Path(path).exists(), f"{name} is missing: install the dev extra"
    return path


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=300)


def test_docker_and_k8s_outputs_pass_the_operators_tools(tmp_path):
    model = tmp_path / "merged"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    docker_dir, k8s_dir = tmp_path / "docker", tmp_path / "k8s"
    done = run(sys.executable, "-m", "tunesmith", "deploy", "docker", "--model", str(model),
               "--output", str(docker_dir), "--variant", "cuda", "--copy-model")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (docker_dir / "model" / "config.json").is_file()
    lint = run(tool("hadolint"), "--no-color", str(docker_dir / "Dockerfile"))
    assert (lint.returncode, lint.stdout) == (0, "")
    compose = run(
        tool("check-jsonschema"),
        "--builtin-schema",
        "vendor.compose-spec",
        str(docker_dir / "docker-compose.yaml"),
    )
    assert compose.returncode == 0, compose.stdout

    done = run(sys.executable, "-m", "tunesmith", "deploy", "k8s", "--model-uri",
               "pvc://models/merged", "--output", str(k8s_dir), "--gpus", "1",
               "--target-waiting", "4", "--namespace", "llm")  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifests = [str(k8s_dir / n) for n in ("deployment.yaml", "service.yaml", "hpa.yaml",
                                             "pdb.yaml", "grafana-dashboard.yaml")]  # fmt: skip
    valid = run(tool("kubernetes-validate"), "--strict", "--kubernetes-version", "1.37", *manifests)
    assert valid.returncode == 0, valid.stdout
    assert valid.stdout.count("passed for resource") == 5
    assert json.loads((k8s_dir / "grafana-dashboard.json").read_text()) == json.loads(
        (docker_dir / "grafana" / "dashboards" / "tunesmith.json").read_text()
    )
