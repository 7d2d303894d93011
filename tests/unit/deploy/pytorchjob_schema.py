"""Strict offline validation of a Kubeflow `PyTorchJob` (kubeflow.org/v1).

The job's own fields are checked against the training operator's API models as its Python
SDK (`kubeflow-training`) declares them (`openapi_types` + `attribute_map`: every key known,
every value of its declared type); the pod templates inside are checked against the
Kubernetes OpenAPI schema of `PodTemplate` by kubernetes-validate, strictly (unknown keys
fail), as the serving manifests are.
"""

from __future__ import annotations

import re

import kubernetes_validate
from kubeflow.training import models

REPLICA_TYPES = ("Master", "Worker")
"""what the training operator accepts as pytorchReplicaSpecs keys"""
CONTAINER = "pytorch"
"""the container the operator configures (MASTER_ADDR, MASTER_PORT, ...)"""


class PyTorchJobError(ValueError):
    pass


def _check(value: object, type_name: str, path: str, templates: list[dict]) -> None:
    if type_name == "V1PodTemplateSpec":
        templates.append(value)  # validated by the Kubernetes schema below
        return
    if type_name == "V1ObjectMeta":
        return  # validated with the pod templates (the job's metadata goes along)
    if m := re.fullmatch(r"dict\(str, (.+)\)", type_name):
        if not isinstance(value, dict):
            raise PyTorchJobError(f"{path}: expected an object, got {value!r}")
        for key, item in value.items():
            _check(item, m.group(1), f"{path}.{key}", templates)
        return
    if m := re.fullmatch(r"list\[(.+)\]", type_name):
        if not isinstance(value, list):
            raise PyTorchJobError(f"{path}: expected a list, got {value!r}")
        for i, item in enumerate(value):
            _check(item, m.group(1), f"{path}[{i}]", templates)
        return
    simple = {"str": str, "int": int, "bool": bool}
    if type_name in simple:
        ok = isinstance(value, simple[type_name])
        if type_name == "int" and isinstance(value, bool):
            ok = False
        if not ok:
            raise PyTorchJobError(f"{path}: expected {type_name}, got {value!r}")
        return
    cls = getattr(models, type_name)
    if not isinstance(value, dict):
        raise PyTorchJobError(f"{path}: expected an object ({type_name}), got {value!r}")
    by_json = {json_key: attr for attr, json_key in cls.attribute_map.items()}
    for key, item in value.items():
        if key not in by_json:
            raise PyTorchJobError(f"{path}: unknown field '{key}' in {type_name}")
        _check(item, cls.openapi_types[by_json[key]], f"{path}.{key}", templates)


def validate_pytorchjob(job: dict, version: str) -> None:
    if job.get("apiVersion") != "kubeflow.org/v1" or job.get("kind") != "PyTorchJob":
        raise PyTorchJobError("expected apiVersion kubeflow.org/v1, kind PyTorchJob")
    templates: list[dict] = []
    _check(job, "KubeflowOrgV1PyTorchJob", "", templates)
    replicas = job.get("spec", {}).get("pytorchReplicaSpecs")
    if not replicas:
        raise PyTorchJobError(".spec.pytorchReplicaSpecs: required")
    if unknown := set(replicas) - set(REPLICA_TYPES):
        raise PyTorchJobError(f".spec.pytorchReplicaSpecs: unknown replica type(s) {unknown}")
    if replicas.get("Master", {}).get("replicas", 1) != 1:
        raise PyTorchJobError(".spec.pytorchReplicaSpecs.Master.replicas: must be 1")
    for spec in replicas.values():
        if spec.get("restartPolicy") not in (None, "Always", "OnFailure", "Never", "ExitCode"):
            raise PyTorchJobError(f"restartPolicy {spec['restartPolicy']!r}")
    for template in templates:
        names = [c["name"] for c in template["spec"]["containers"]]
        if CONTAINER not in names:
            raise PyTorchJobError(f"no container named '{CONTAINER}' in {names}")
        pod_template = {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": job["metadata"],
            "template": template,
        }
        kubernetes_validate.validate(pod_template, version, strict=True)
