"""`tunesmith deploy k8s`: manifests valid against the Kubernetes OpenAPI schemas (offline,
kubernetes-validate's bundled schemas), drain-matched termination, probes, secret, HPA."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest
import yaml
from deploy_helpers import assert_usage_error, load_yaml, load_yaml_text, run_cli

from tunesmith.deploy.common import dashboard_json
from tunesmith.deploy.k8s import K8sOptions, build_files, manifests
from tunesmith.serve.metrics import ServerMetrics

OLDEST, NEWEST = "1.25", "1.37"  # the range of schemas the validator bundles


def container(objs: dict) -> dict:
    return objs["deployment.yaml"]["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize(
    "opts",
    [
        {"model_uri": "pvc://models/demo/merged"},
        {"model_uri": "image:///models/model", "gpus": 2, "target_waiting": 4.0},
        {"model_uri": "tiny-deepseek-v3-base", "namespace": "llm", "api_key_secret": None},
    ],
)
@pytest.mark.parametrize("version", [OLDEST, NEWEST])
def test_every_manifest_passes_strict_schema_validation(tmp_path, opts, version):
    objs = manifests(K8sOptions(output=str(tmp_path), **opts))
    assert set(objs) == {
        "deployment.yaml",
        "service.yaml",
        "hpa.yaml",
        "pdb.yaml",
        "grafana-dashboard.yaml",
    }
    for obj in objs.values():
        assert kubernetes_validate.validate(obj, version, strict=True) == version


def test_the_validator_is_not_vacuous(tmp_path):
    deployment = manifests(K8sOptions("pvc://m", str(tmp_path)))["deployment.yaml"]
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError, match="'two' is not of type 'integer'"):
        kubernetes_validate.validate(deployment, NEWEST, strict=True)
    deployment = manifests(K8sOptions("pvc://m", str(tmp_path)))["deployment.yaml"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(deployment, NEWEST, strict=True)


def test_termination_follows_the_server_drain(tmp_path):
    objs = manifests(K8sOptions("pvc://m", str(tmp_path), drain_seconds=12.5, prestop_seconds=3))
    pod = objs["deployment.yaml"]["spec"]["template"]["spec"]
    c = container(objs)
    assert c["lifecycle"]["preStop"] == {"exec": {"command": ["sleep", "3"]}}
    assert c["args"][c["args"].index("--drain-seconds") + 1] == "12.5"
    assert pod["terminationGracePeriodSeconds"] == 3 + 13 + 10  # preStop + drain + slack
    default = manifests(K8sOptions("pvc://m", str(tmp_path)))["deployment.yaml"]
    assert default["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 5 + 30 + 10


def test_probes_ports_security_and_the_api_key_secret(tmp_path):
    objs = manifests(K8sOptions("pvc://models/a/b", str(tmp_path), cpu="500m"))
    c = container(objs)
    pod = objs["deployment.yaml"]["spec"]["template"]["spec"]
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert c["startupProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert c["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert c["args"] == [
        "--model", "/models/model", "--host", "0.0.0.0", "--port", "8000",
        "--drain-seconds", "30", "--threads", "1",
    ]  # fmt: skip
    secret = {"name": "tunesmith-api-key", "key": "api-key"}
    assert {"name": "TUNESMITH_API_KEY", "valueFrom": {"secretKeyRef": secret}} in c["env"]
    assert c["resources"] == {
        "requests": {"cpu": "500m", "memory": "16Gi"},
        "limits": {"memory": "16Gi"},
    }
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["volumeMounts"][0] == {
        "name": "model",
        "mountPath": "/models/model",
        "readOnly": True,
        "subPath": "a/b",
    }
    assert pod["volumes"][0] == {
        "name": "model",
        "persistentVolumeClaim": {"claimName": "models", "readOnly": True},
    }
    assert "tolerations" not in pod
    annotations = objs["deployment.yaml"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"
    no_key = container(manifests(K8sOptions("pvc://m", str(tmp_path), api_key_secret=None)))
    assert [e["name"] for e in no_key["env"]] == ["TUNESMITH_LOG_JSON", "HF_HUB_OFFLINE"]


def test_gpus_image_and_model_sources(tmp_path):
    objs = manifests(K8sOptions("image:///opt/model", str(tmp_path), gpus=2, cpu="8"))
    c = container(objs)
    pod = objs["deployment.yaml"]["spec"]["template"]["spec"]
    assert c["resources"]["limits"] == {"memory": "16Gi", "nvidia.com/gpu": 2}
    assert c["image"].endswith("-cuda") and c["args"][:2] == ["--model", "/opt/model"]
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert [v["name"] for v in pod["volumes"]] == ["tmp", "home"]  # the model is in the image
    preset = container(manifests(K8sOptions("tiny-llama", str(tmp_path), image="reg/ts:1")))
    assert preset["args"][:2] == ["--model", "tiny-llama"] and preset["image"] == "reg/ts:1"
    assert container(manifests(K8sOptions("pvc://m", str(tmp_path))))["image"].endswith("-cpu")


def test_selectors_agree_and_pdb_hpa_shapes(tmp_path):
    objs = manifests(K8sOptions("pvc://m", str(tmp_path), name="chat", min_replicas=3))
    dep, svc = objs["deployment.yaml"], objs["service.yaml"]
    selector = dep["spec"]["selector"]["matchLabels"]
    assert selector == {"app.kubernetes.io/name": "tunesmith", "app.kubernetes.io/instance": "chat"}
    assert selector.items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert svc["spec"]["selector"] == selector
    assert svc["spec"]["ports"] == [
        {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}
    ]
    assert objs["pdb.yaml"]["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": selector}}
    hpa = objs["hpa.yaml"]["spec"]
    assert dep["spec"]["replicas"] == hpa["minReplicas"] == 3 and hpa["maxReplicas"] == 8
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "chat"}
    assert hpa["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 70},
            },
        }
    ]


def test_the_waiting_requests_metric_maps_to_the_server_gauge(tmp_path):
    files = build_files(K8sOptions("pvc://m", str(tmp_path), target_waiting=2.5))
    hpa = load_yaml_text(files["hpa.yaml"])["spec"]["metrics"][1]
    assert hpa == {
        "type": "Pods",
        "pods": {
            "metric": {"name": "tunesmith_num_requests_waiting"},
            "target": {"type": "AverageValue", "averageValue": "2.5"},
        },
    }
    rule = load_yaml_text(files["prometheus-adapter-values.yaml"])["rules"]["custom"][0]
    assert rule["name"]["as"] == "tunesmith_num_requests_waiting"
    gauge = rule["seriesQuery"].split("{")[0]
    assert gauge == "tunesmith:num_requests_waiting"
    exported = {m.name: m.type for m in ServerMetrics("m").registry.collect()}
    assert exported[gauge] == "gauge"


def test_cli_writes_the_directory(tmp_path, capsys):
    out = tmp_path / "k8s"
    code, stdout, err = run_cli(
        capsys,
        ["deploy", "k8s", "--model-uri", "pvc://models/m", "--output", str(out), "--gpus", "1"],
    )
    assert (code, err) == (0, "")
    assert stdout == (
        "wrote deployment.yaml, service.yaml, hpa.yaml, pdb.yaml, grafana-dashboard.yaml and "
        f"kustomization.yaml to {out}; apply with:\n  kubectl apply -k {out}\n"
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "deployment.yaml",
        "grafana-dashboard.json",
        "grafana-dashboard.yaml",
        "hpa.yaml",
        "kustomization.yaml",
        "pdb.yaml",
        "service.yaml",
    ]
    assert load_yaml(out / "kustomization.yaml")["resources"] == [
        "deployment.yaml",
        "service.yaml",
        "hpa.yaml",
        "pdb.yaml",
        "grafana-dashboard.yaml",
    ]
    for name in ("deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml"):
        kubernetes_validate.validate(load_yaml(out / name), NEWEST, strict=True)
    configmap = load_yaml(out / "grafana-dashboard.yaml")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads(dashboard_json())
    assert json.loads(configmap["data"]["tunesmith-serve.json"]) == shipped
    assert json.loads((out / "grafana-dashboard.json").read_text()) == shipped
    readme = (out / "README.md").read_text()
    assert "kubectl create secret generic tunesmith-api-key --from-literal=api-key=KEY" in readme
    assert "terminationGracePeriodSeconds is 45" in readme


BAD = [
    (
        ["--model-uri", "s3://bucket/model"],
        "error: --model-uri 's3://bucket/model': expected pvc://CLAIM[/PATH] (a "
        "PersistentVolumeClaim holding the model directory), image:///PATH (a model inside the "
        "image, e.g. `deploy docker --copy-model` puts it at /models/model) or a preset "
        "(tiny-deepseek-v3, tiny-deepseek-v3-base, tiny-llama, tiny-qwen2)",
    ),
    (["--model-uri", "pvc://Bad_Claim"], "error: --model-uri 'pvc://Bad_Claim': 'Bad_Claim' is not a valid claim name"),
    (["--name", "My-App"], "error: --name 'My-App': expected a DNS label (lowercase letters, digits and '-', at most 50 characters)"),
    (["--namespace", "Prod"], "error: --namespace 'Prod': expected a DNS label"),
    (["--cpu", "four"], "error: --cpu 'four': expected a positive Kubernetes quantity such as 4 or 500m"),
    (["--cpu", "0"], "error: --cpu '0': expected a positive Kubernetes quantity such as 4 or 500m"),
    (["--memory", "16GB"], "error: --memory '16GB': expected a positive Kubernetes quantity such as 16Gi"),
    (["--gpus", "-1"], "error: --gpus: must be >= 0, got -1"),
    (["--min-replicas", "0"], "error: --min-replicas: must be >= 1, got 0"),
    (["--min-replicas", "3", "--max-replicas", "2"], "error: --min-replicas 3 / max_replicas 2: expected min <= max"),
    (["--target-cpu", "101"], "error: --target-cpu: must be <= 100, got 101"),
    (["--target-waiting", "0"], "error: --target-waiting: must be > 0, got 0"),
    (["--drain-seconds", "-1"], "error: --drain-seconds: must be >= 0, got -1"),
    (["--prestop-seconds", "-2"], "error: --prestop-seconds: must be >= 0, got -2"),
    (["--api-key-secret", "Key!"], "error: --api-key-secret 'Key!': expected a Secret name"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "message"), BAD)
def test_bad_options_exit_2_and_write_nothing(tmp_path, capsys, extra, message):
    out = tmp_path / "k8s"
    argv = ["deploy", "k8s", "--model-uri", "pvc://m", "--output", str(out)]
    if extra[0] == "--model-uri":
        argv = argv[:2] + argv[4:]
    code, stdout, err = run_cli(capsys, argv + extra)
    assert (code, stdout, err) == (2, "", message + "\n")
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["deploy", "nope"], "argument TARGET: invalid choice: 'nope'"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2(capsys, argv, usage):
    assert_usage_error(capsys, argv, usage)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--output", "o"], "--model-uri: required (or `model_uri:` in CONFIG)"),
        (["--model-uri", "pvc://m"], "--output: required (or `output:` in CONFIG)"),
        (["--model-uri", "pvc://m", "--output", "o", "--gpus", "x"], "--gpus: expected an integer, got 'x' (str)"),
    ],
)  # fmt: skip
def test_missing_and_mistyped_settings_exit_2(tmp_path, capsys, argv, message):
    code, stdout, err = run_cli(capsys, ["deploy", "k8s", *argv])
    assert (code, stdout, err) == (2, "", f"error: {message}\n")
    assert not (tmp_path / "o").exists()


def test_a_config_file_overrides_and_no_api_key(tmp_path, capsys):
    cfg = tmp_path / "k8s.yaml"
    cfg.write_text("model_uri: pvc://models/demo\ngpus: 1\nname: demo\n")
    out = tmp_path / "k8s"
    argv = ["deploy", "k8s", str(cfg), "max_replicas=3", "--output", str(out), "--no-api-key"]
    code, _, err = run_cli(capsys, argv)
    assert (code, err) == (0, "")
    deployment = yaml.safe_load((out / "deployment.yaml").read_text())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert deployment["metadata"]["name"] == "demo"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "TUNESMITH_API_KEY" not in str(container.get("env", []))
    hpa = yaml.safe_load((out / "hpa.yaml").read_text())
    assert hpa["spec"]["maxReplicas"] == 3


def test_a_non_empty_output_needs_overwrite(tmp_path, capsys):
    out = tmp_path / "k8s"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    argv = ["deploy", "k8s", "--model-uri", "pvc://m", "--output", str(out)]
    code, _, err = run_cli(capsys, argv)
    assert code == 2
    assert (
        err
        == f"error: --output: '{out}' exists and is not empty (pass --overwrite to replace it)\n"
    )
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert run_cli(capsys, [*argv, "--overwrite"])[0] == 0
    assert not (out / "keep.txt").exists() and (out / "deployment.yaml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k8s"]  # no staging dir left
