"""`tunesmith deploy k8s`: Kubernetes manifests for the server.

    write_k8s(K8sOptions(model_uri="pvc://models/demo-merged", output="deploy/k8s", gpus=1))

Deployment (probes on /ready and /health, preStop + grace period sized to the server's
drain, API key from a Secret, non-root), Service, HorizontalPodAutoscaler (CPU, optionally
waiting requests per pod), PodDisruptionBudget, and the Grafana dashboard as a ConfigMap.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from tunesmith.config.deploy_settings import K8sSettings
from tunesmith.config.settings import check_settings
from tunesmith.deploy.common import (
    APP_UID,
    DASHBOARD_UID,
    MODEL_PATH,
    PORT,
    Files,
    check_quantity,
    dashboard_json,
    default_image,
    serve_args,
    to_yaml,
    tunesmith_version,
    write_output,
)
from tunesmith.errors import ConfigError

GRACE_SLACK_S = 10
"""seconds the grace period leaves, after preStop and the drain, for the process to exit"""
WAITING_METRIC = "tunesmith_num_requests_waiting"
"""the HPA's per-pod custom metric: the server's `tunesmith:num_requests_waiting`, renamed
by the prometheus-adapter rule written beside the manifests"""
MANIFESTS = ("deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml", "grafana-dashboard.yaml")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


K8sOptions = K8sSettings
"""write_k8s's options: the `deploy k8s` schema (config/deploy_settings.py)."""


@dataclass(frozen=True)
class ModelSource:
    serve_arg: str
    volume: dict | None = None
    mount: dict | None = None


def model_source(uri: str) -> ModelSource:
    """Where the pod finds the model: a PersistentVolumeClaim, the image, or a preset."""
    from tunesmith.models.registry import PRESETS

    expected = (
        "pvc://CLAIM[/PATH] (a PersistentVolumeClaim holding the model directory), "
        "image:///PATH (a model inside the image, e.g. `deploy docker --copy-model` puts it "
        f"at {MODEL_PATH}) or a preset ({', '.join(sorted(PRESETS))})"
    )
    if uri in PRESETS:
        return ModelSource(serve_arg=uri)
    scheme, sep, rest = uri.partition("://")
    if sep and scheme == "pvc":
        claim, _, sub = rest.partition("/")
        if not _NAME.match(claim):
            raise ConfigError(f"model_uri '{uri}': '{claim}' is not a valid claim name")
        mount = {"name": "model", "mountPath": MODEL_PATH, "readOnly": True}
        if sub.strip("/"):
            mount["subPath"] = sub.strip("/")
        volume = {"name": "model", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}
        return ModelSource(serve_arg=MODEL_PATH, volume=volume, mount=mount)
    if sep and scheme == "image" and rest.startswith("/") and len(rest) > 1:
        return ModelSource(serve_arg=rest)
    raise ConfigError(f"model_uri '{uri}': expected {expected}")


def check_options(o: K8sOptions) -> None:
    """The rules the schema's bounds cannot say (names, quantities, replicas)."""
    if not _NAME.match(o.name) or len(o.name) > 50:
        raise ConfigError(
            f"name '{o.name}': expected a DNS label (lowercase letters, digits and '-', "
            "at most 50 characters)"
        )
    if o.namespace is not None and not _NAME.match(o.namespace):
        raise ConfigError(f"namespace '{o.namespace}': expected a DNS label")
    check_quantity("cpu", o.cpu, "4 or 500m")
    check_quantity("memory", o.memory, "16Gi")
    if o.min_replicas > o.max_replicas:
        raise ConfigError(
            f"min_replicas {o.min_replicas} / max_replicas {o.max_replicas}: expected min <= max"
        )
    if o.api_key_secret is not None and not _NAME.match(o.api_key_secret):
        raise ConfigError(f"api_key_secret '{o.api_key_secret}': expected a Secret name")


def check_k8s(o: K8sOptions) -> None:
    """Every rule of the options: the schema's (by `check_settings`), these, the model URI."""
    check_options(o)
    model_source(o.model_uri)


def grace_period(o: K8sOptions) -> int:
    """preStop sleep + the server's drain + slack: SIGTERM comes after preStop, then the
    server finishes in-flight requests for up to --drain-seconds before it exits."""
    return o.prestop_seconds + math.ceil(o.drain_seconds) + GRACE_SLACK_S


def _threads(cpu: str) -> int:
    """torch threads for a CPU request (torch would otherwise use every core of the node)."""
    cores = float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)
    return max(1, math.floor(cores))


def labels(o: K8sOptions) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "tunesmith",
        "app.kubernetes.io/instance": o.name,
        "app.kubernetes.io/component": "server",
        "app.kubernetes.io/version": tunesmith_version(),
        "app.kubernetes.io/managed-by": "tunesmith",
    }


def _selector(o: K8sOptions) -> dict[str, str]:
    return {"app.kubernetes.io/name": "tunesmith", "app.kubernetes.io/instance": o.name}


def _meta(o: K8sOptions, name: str | None = None, **extra: object) -> dict:
    meta: dict = {"name": name or o.name, "labels": labels(o), **extra}
    if o.namespace is not None:
        meta["namespace"] = o.namespace
    return meta


def _container(o: K8sOptions, src: ModelSource) -> dict:
    http = {"path": "/health", "port": "http"}
    env = [{"name": "TUNESMITH_LOG_JSON", "value": "1"}, {"name": "HF_HUB_OFFLINE", "value": "1"}]
    if o.api_key_secret is not None:
        ref = {"name": o.api_key_secret, "key": "api-key"}
        env.append({"name": "TUNESMITH_API_KEY", "valueFrom": {"secretKeyRef": ref}})
    resources: dict = {
        "requests": {"cpu": o.cpu, "memory": o.memory},
        "limits": {"memory": o.memory},
    }
    if o.gpus:
        resources["limits"]["nvidia.com/gpu"] = o.gpus
    mounts = [
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "home", "mountPath": "/home/tunesmith"},
    ]
    if src.mount is not None:
        mounts.insert(0, src.mount)
    args = serve_args(src.serve_arg, drain_seconds=o.drain_seconds, threads=_threads(o.cpu))
    return {
        "name": "server",
        "image": o.image or default_image("cuda" if o.gpus else "cpu"),
        "args": args,
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": env,
        "resources": resources,
        # model loading happens before the port opens: allow up to 10 minutes
        "startupProbe": {"httpGet": http, "periodSeconds": 5, "failureThreshold": 120},
        "readinessProbe": {
            "httpGet": {"path": "/ready", "port": "http"},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 2,
        },
        "livenessProbe": {
            "httpGet": http,
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        # endpoints drop the pod while it sleeps; then SIGTERM starts the server's drain
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(o.prestop_seconds)]}}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }


def deployment(o: K8sOptions, src: ModelSource) -> dict:
    volumes = [{"name": "tmp", "emptyDir": {}}, {"name": "home", "emptyDir": {}}]
    if src.volume is not None:
        volumes.insert(0, src.volume)
    pod: dict = {
        "terminationGracePeriodSeconds": grace_period(o),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": APP_UID,
            "runAsGroup": APP_UID,
            "fsGroup": APP_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(o, src)],
        "volumes": volumes,
    }
    if o.gpus:
        gpu = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        pod["tolerations"] = [gpu]
    scrape = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(PORT),
        "prometheus.io/path": "/metrics",
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(o),
        "spec": {
            "replicas": o.min_replicas,
            "selector": {"matchLabels": _selector(o)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": labels(o), "annotations": scrape},
                "spec": pod,
            },
        },
    }


def service(o: K8sOptions) -> dict:
    port = {"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(o),
        "spec": {"type": "ClusterIP", "selector": _selector(o), "ports": [port]},
    }


def hpa(o: K8sOptions) -> dict:
    metrics: list[dict] = [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": o.target_cpu},
            },
        }
    ]
    if o.target_waiting is not None:
        metrics.append(
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": WAITING_METRIC},
                    "target": {"type": "AverageValue", "averageValue": f"{o.target_waiting:g}"},
                },
            }
        )
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(o),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": o.name},
            "minReplicas": o.min_replicas,
            "maxReplicas": o.max_replicas,
            "metrics": metrics,
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


def pdb(o: K8sOptions) -> dict:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(o),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _selector(o)}},
    }


def dashboard_configmap(o: K8sOptions) -> dict:
    """The dashboard for Grafana's sidecar (kube-prometheus-stack picks up this label)."""
    meta = _meta(o, f"{o.name}-grafana-dashboard")
    meta["labels"] = {**meta["labels"], "grafana_dashboard": "1"}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {f"{DASHBOARD_UID}.json": dashboard_json()},
    }


def adapter_rules() -> dict:
    """prometheus-adapter Helm values that expose the waiting-requests gauge per pod."""
    rule = {
        "seriesQuery": 'tunesmith:num_requests_waiting{namespace!="",pod!=""}',
        "resources": {
            "overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}
        },
        "name": {"matches": "^tunesmith:num_requests_waiting$", "as": WAITING_METRIC},
        "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
    }
    return {"rules": {"custom": [rule]}}


def manifests(o: K8sOptions) -> dict[str, dict]:
    """file name -> Kubernetes object."""
    check_settings(o, check_k8s)
    src = model_source(o.model_uri)
    return {
        "deployment.yaml": deployment(o, src),
        "service.yaml": service(o),
        "hpa.yaml": hpa(o),
        "pdb.yaml": pdb(o),
        "grafana-dashboard.yaml": dashboard_configmap(o),
    }


def _dump(obj: dict) -> str:
    return to_yaml(obj, "# Generated by `tunesmith deploy k8s`.\n")


def build_files(o: K8sOptions) -> Files:
    objs = manifests(o)
    files: Files = {name: _dump(obj) for name, obj in objs.items()}
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(objs),
    }
    files["kustomization.yaml"] = _dump(kustomization)
    files["grafana-dashboard.json"] = json.dumps(json.loads(dashboard_json()), indent=2) + "\n"
    if o.target_waiting is not None:
        files["prometheus-adapter-values.yaml"] = _dump(adapter_rules())
    files["README.md"] = _readme(o)
    return files


def _readme(o: K8sOptions) -> str:
    ns = f" -n {o.namespace}" if o.namespace else ""
    secret = (
        f"kubectl{ns} create secret generic {o.api_key_secret} --from-literal=api-key=KEY\n"
        if o.api_key_secret
        else ""
    )
    waiting = (
        "\nThe HPA also holds `tunesmith_num_requests_waiting` per pod: install prometheus-adapter "
        "with `prometheus-adapter-values.yaml`, which maps the server's "
        "`tunesmith:num_requests_waiting` to that name.\n"
        if o.target_waiting is not None
        else ""
    )
    return f"""# tunesmith on Kubernetes

Generated by `tunesmith deploy k8s` (tunesmith {tunesmith_version()}); validated offline
against the Kubernetes OpenAPI schemas, not applied to a cluster by tunesmith.

```bash
{secret}kubectl{ns} apply -k .
```

Pods stop in order: preStop sleeps {o.prestop_seconds}s while endpoints drop the pod, then
SIGTERM starts the server's drain (up to {o.drain_seconds:g}s, /ready answers 503);
terminationGracePeriodSeconds is {grace_period(o)}. `grafana-dashboard.yaml` is the
dashboard as a ConfigMap for Grafana's sidecar (`grafana_dashboard: "1"`);
`grafana-dashboard.json` is the same for manual import.
{waiting}"""


def write_k8s(o: K8sOptions) -> Path:
    return write_output(o.output, build_files(o), overwrite=o.overwrite)
