"""`tunesmith deploy k8s --train CONFIG --nodes N --gpus-per-node G`: a Kubeflow
training-operator `PyTorchJob` (kubeflow.org/v1) for a multi-node `tunesmith train` run.

    write_train_job(K8sTrainSettings(train="configs/x.yaml", nodes=2, output="deploy/train"))

One Master and N-1 Workers, each pod one torchrun agent with G processes; the agents meet at
a c10d rendezvous on the Master's service (`$(MASTER_ADDR):$(MASTER_PORT)`, set by the
operator from the container port `pytorchjob-port`). The training config travels as a
ConfigMap; the run directory is a PersistentVolumeClaim mounted at `workdir` on every pod,
which is also the working directory, so the config's relative paths (data, model,
output.dir) resolve on the shared volume. `restartPolicy: OnFailure` + `train.resume=auto`:
a restarted pod rejoins and the run continues from its last checkpoint.
"""

from __future__ import annotations

import math
from pathlib import Path

from tunesmith.config.jobs import K8sTrainSettings
from tunesmith.deploy.common import (
    APP_UID,
    Files,
    check_quantity,
    default_image,
    to_yaml,
    tunesmith_version,
    write_output,
)
from tunesmith.deploy.k8s import _NAME
from tunesmith.deploy.train_job import TRAIN_YAML, TrainJob, plan_job, torchrun_args
from tunesmith.errors import ConfigError

CONFIG_DIR = "/etc/tunesmith"
PORT_NAME = "pytorchjob-port"
"""the container port the training operator reads MASTER_PORT from"""
CONTAINER = "pytorch"
"""the container name the training operator expects in a PyTorchJob"""
FILES = ("pytorchjob.yaml", "configmap.yaml")


def check_settings(s: K8sTrainSettings) -> None:
    if not _NAME.match(s.name) or len(s.name) > 40:
        raise ConfigError(
            f"--name '{s.name}': expected a DNS label (lowercase letters, digits and '-', at "
            "most 40 characters: pods are named NAME-worker-N)"
        )
    if s.namespace is not None and not _NAME.match(s.namespace):
        raise ConfigError(f"--namespace '{s.namespace}': expected a DNS label")
    if not _NAME.match(s.pvc):
        raise ConfigError(f"--pvc '{s.pvc}': expected a PersistentVolumeClaim name")
    if not s.workdir.startswith("/") or s.workdir.rstrip("/") in ("", CONFIG_DIR):
        raise ConfigError(f"--workdir '{s.workdir}': expected an absolute path other than /")
    check_quantity("--cpu", s.cpu, "8 or 500m")
    check_quantity("--memory", s.memory, "64Gi")
    check_quantity("--shm", s.shm, "16Gi")


def labels(s: K8sTrainSettings) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "tunesmith",
        "app.kubernetes.io/instance": s.name,
        "app.kubernetes.io/component": "train",
        "app.kubernetes.io/version": tunesmith_version(),
        "app.kubernetes.io/managed-by": "tunesmith",
    }


def _meta(s: K8sTrainSettings, name: str) -> dict:
    meta: dict = {"name": name, "labels": labels(s)}
    if s.namespace is not None:
        meta["namespace"] = s.namespace
    return meta


def _threads(cpu: str, nproc: int) -> int:
    cores = float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)
    return max(1, math.floor(cores / nproc))


def _container(s: K8sTrainSettings, job: TrainJob) -> dict:
    resources: dict = {
        "requests": {"cpu": s.cpu, "memory": s.memory},
        "limits": {"memory": s.memory},
    }
    if s.gpus_per_node:
        resources["limits"]["nvidia.com/gpu"] = s.gpus_per_node
    args = torchrun_args(
        job,
        s,
        endpoint="$(MASTER_ADDR):$(MASTER_PORT)",  # expanded by Kubernetes from the env
        rdzv_id=s.name,
        config=f"{CONFIG_DIR}/{TRAIN_YAML}",
    )
    env = [
        {"name": "OMP_NUM_THREADS", "value": str(_threads(s.cpu, job.nproc_per_node))},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": "HF_HUB_OFFLINE", "value": "1"},
        {"name": "TUNESMITH_LOG_JSON", "value": "1"},
    ]
    return {
        "name": CONTAINER,
        "image": s.image or default_image("cuda" if s.gpus_per_node else "cpu"),
        "command": ["torchrun"],
        "args": args,
        "workingDir": s.workdir,
        "ports": [{"name": PORT_NAME, "containerPort": s.port, "protocol": "TCP"}],
        "env": env,
        "resources": resources,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "runs", "mountPath": s.workdir},
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "dshm", "mountPath": "/dev/shm"},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "home", "mountPath": "/home/tunesmith"},
        ],
    }


def _replica(s: K8sTrainSettings, job: TrainJob, replicas: int) -> dict:
    pod: dict = {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": APP_UID,
            "runAsGroup": APP_UID,
            "fsGroup": APP_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(s, job)],
        "volumes": [
            {"name": "runs", "persistentVolumeClaim": {"claimName": s.pvc}},
            {"name": "config", "configMap": {"name": f"{s.name}-config"}},
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": s.shm}},
            {"name": "tmp", "emptyDir": {}},
            {"name": "home", "emptyDir": {}},
        ],
    }
    if s.gpus_per_node:
        pod["tolerations"] = [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    return {
        "replicas": replicas,
        "restartPolicy": "OnFailure",
        "template": {"metadata": {"labels": labels(s)}, "spec": pod},
    }


def pytorchjob(s: K8sTrainSettings, job: TrainJob) -> dict:
    replicas = {"Master": _replica(s, job, 1)}
    if s.nodes > 1:
        replicas["Worker"] = _replica(s, job, s.nodes - 1)
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": _meta(s, s.name),
        "spec": {
            "nprocPerNode": str(job.nproc_per_node),
            "runPolicy": {"backoffLimit": s.backoff_limit, "cleanPodPolicy": "None"},
            "pytorchReplicaSpecs": replicas,
        },
    }


def configmap(s: K8sTrainSettings, job: TrainJob) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(s, f"{s.name}-config"),
        "data": {TRAIN_YAML: job.config_yaml},
    }


def manifests(s: K8sTrainSettings) -> tuple[dict[str, dict], TrainJob]:
    """file name -> Kubernetes object, and the planned job."""
    check_settings(s)
    job = plan_job(s)
    return {"pytorchjob.yaml": pytorchjob(s, job), "configmap.yaml": configmap(s, job)}, job


def build_files(s: K8sTrainSettings) -> tuple[Files, TrainJob]:
    objs, job = manifests(s)
    header = "# Generated by `tunesmith deploy k8s --train`.\n"
    files: Files = {name: to_yaml(obj, header) for name, obj in objs.items()}
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(objs),
    }
    files["kustomization.yaml"] = to_yaml(kustomization, header)
    files[TRAIN_YAML] = job.config_yaml
    files["README.md"] = _readme(s, job)
    return files, job


def _readme(s: K8sTrainSettings, job: TrainJob) -> str:
    ns = f" -n {s.namespace}" if s.namespace else ""
    notes = "".join(f"\n- {n}" for n in job.notes)
    return f"""# tunesmith training job on Kubernetes

Generated by `tunesmith deploy k8s --train {s.train}` (tunesmith {tunesmith_version()});
validated offline against the PyTorchJob API (kubeflow.org/v1) and the Kubernetes pod
schema, not applied to a cluster by tunesmith. Needs the Kubeflow training operator.

{s.nodes} node(s) x {job.nproc_per_node} process(es) = {job.world_size}, strategy
`{job.strategy}`. Every pod mounts the claim `{s.pvc}` (ReadWriteMany) at `{s.workdir}` and
runs there: put the config's data and model at the same relative paths on it; the run
directory `{job.run_dir}` is written there. `train.yaml` (also in the ConfigMap) is the
config with its overrides applied.

```bash
kubectl{ns} apply -k .
kubectl{ns} get pytorchjob {s.name}
kubectl{ns} logs -f {s.name}-master-0
```

A failed pod restarts (`restartPolicy: OnFailure`, at most {s.backoff_limit} times), torchrun
restarts the worker group (at most {s.max_restarts} times), and `train.resume=auto` continues
from the last checkpoint in `{job.run_dir}/checkpoints`.{notes}
"""


def write_train_job(s: K8sTrainSettings) -> tuple[Path, TrainJob]:
    files, job = build_files(s)
    return write_output(s.output, files, overwrite=s.overwrite), job
