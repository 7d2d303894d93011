"""`tunesmith deploy`: what it takes to run the server in production.

tunesmith deploy docker --model runs/demo/merged --output deploy/docker
tunesmith deploy docker --model runs/demo/merged --output deploy/gpu --variant cuda --copy-model
tunesmith deploy k8s --model-uri pvc://models/demo-merged --output deploy/k8s --gpus 1
tunesmith deploy k8s k8s.yaml gpus=1 --output deploy/gpu      # CONFIG.yaml + overrides + flags
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from tunesmith.cli import jobs_cmd
from tunesmith.config.deploy_settings import DockerSettings, K8sSettings
from tunesmith.config.settings import add_settings_args, settings_from_args


def deploy_docker(args: argparse.Namespace) -> int:
    from tunesmith.deploy import write_docker

    s = settings_from_args(args)
    out = write_docker(s)
    print(f"wrote a Docker build context ({s.variant}) to {out}; build it with:")
    print(f"  cd {out} && docker compose up --build")
    return 0


def deploy_k8s(args: argparse.Namespace) -> int:
    from tunesmith.deploy import write_k8s
    from tunesmith.deploy.k8s import MANIFESTS, check_k8s

    if args.no_api_key:
        args.overrides = [*(args.overrides or []), "api_key_secret=null"]
    s = settings_from_args(args, check=check_k8s)
    out = write_k8s(s)
    print(f"wrote {', '.join(MANIFESTS)} and kustomization.yaml to {out}; apply with:")
    print(f"  kubectl apply -k {out}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "deploy docker": deploy_docker,
    "deploy k8s": deploy_k8s,
}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deploy", help="Docker build context, Kubernetes manifests, dashboard")
    deploy_sub = p.add_subparsers(metavar="TARGET", required=True)

    p = deploy_sub.add_parser(
        "docker", help="Dockerfile, .dockerignore, docker-compose with Prometheus and Grafana"
    )
    add_settings_args(p, DockerSettings)
    p.set_defaults(command="deploy docker")

    p = deploy_sub.add_parser(
        "k8s", help="Deployment, Service, HPA, PodDisruptionBudget, dashboard ConfigMap"
    )
    add_settings_args(p, K8sSettings)
    p.add_argument(
        "--no-api-key", action="store_true", help="serve without an API key (api_key_secret=null)"
    )
    p.set_defaults(command="deploy k8s")

    jobs_cmd.add_deploy_parsers(deploy_sub)
