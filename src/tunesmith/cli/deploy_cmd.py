"""`tunesmith deploy`: what it takes to run the server in production.

tunesmith deploy docker --model runs/demo/merged --output deploy/docker
tunesmith deploy docker --model runs/demo/merged --output deploy/gpu --variant cuda --copy-model
tunesmith deploy k8s --model-uri pvc://models/demo-merged --output deploy/k8s --gpus 1
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from tunesmith.cli import jobs_cmd


def deploy_docker(args: argparse.Namespace) -> int:
    from tunesmith.deploy import DockerOptions, write_docker

    opts = DockerOptions(
        model=args.model,
        output=args.output,
        variant=args.variant,
        copy_model=args.copy_model,
        image=args.image,
        base_image=args.base_image,
        drain_seconds=args.drain_seconds,
        source=args.source,
        constraints=args.constraints,
        overwrite=args.overwrite,
    )
    out = write_docker(opts)
    print(f"wrote a Docker build context ({args.variant}) to {out}; build it with:")
    print(f"  cd {out} && docker compose up --build")
    return 0


def deploy_k8s(args: argparse.Namespace) -> int:
    from tunesmith.deploy import K8sOptions, write_k8s
    from tunesmith.deploy.k8s import MANIFESTS

    opts = K8sOptions(
        model_uri=args.model_uri,
        output=args.output,
        name=args.name,
        namespace=args.namespace,
        image=args.image,
        cpu=args.cpu,
        memory=args.memory,
        gpus=args.gpus,
        min_replicas=args.min_replicas,
        max_replicas=args.max_replicas,
        target_cpu=args.target_cpu,
        target_waiting=args.target_waiting,
        drain_seconds=args.drain_seconds,
        prestop_seconds=args.prestop_seconds,
        api_key_secret=None if args.no_api_key else args.api_key_secret,
        overwrite=args.overwrite,
    )
    out = write_k8s(opts)
    print(f"wrote {', '.join(MANIFESTS)} and kustomization.yaml to {out}; apply with:")
    print(f"  kubectl apply -k {out}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "deploy docker": deploy_docker,
    "deploy k8s": deploy_k8s,
}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", required=True, metavar="DIR", help="directory to write")
    p.add_argument(
        "--overwrite", action="store_true", help="replace --output if it exists and is not empty"
    )
    p.add_argument(
        "--image", help="image name:tag (default: tunesmith-serve:VERSION-cpu, or -cuda)"
    )
    p.add_argument(
        "--drain-seconds",
        type=float,
        default=30.0,
        help="the server's SIGTERM drain (`serve --drain-seconds`); stop timeouts follow it",
    )


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deploy", help="Docker build context, Kubernetes manifests, dashboard")
    deploy_sub = p.add_subparsers(metavar="TARGET", required=True)

    p = deploy_sub.add_parser(
        "docker", help="Dockerfile, .dockerignore, docker-compose with Prometheus and Grafana"
    )
    p.add_argument(
        "--model",
        required=True,
        help="preset, model directory, or run directory (an adapter's base must be a preset "
        "name; merge other adapters first with `tunesmith export merge`)",
    )
    _common(p)
    p.add_argument("--variant", choices=("cpu", "cuda"), default="cpu", help="torch build")
    p.add_argument(
        "--copy-model",
        action="store_true",
        help="copy the model into the image (default: mount it read-only at run time)",
    )
    p.add_argument("--base-image", help="FROM image (default: python:3.X-slim-bookworm)")
    p.add_argument("--source", metavar="DIR", help="tunesmith source tree (default: this one)")
    p.add_argument(
        "--constraints", metavar="FILE", help="pinned versions (default: SOURCE/constraints.txt)"
    )
    p.set_defaults(command="deploy docker")

    p = deploy_sub.add_parser(
        "k8s", help="Deployment, Service, HPA, PodDisruptionBudget, dashboard ConfigMap"
    )
    p.add_argument(
        "--model-uri",
        required=True,
        help="pvc://CLAIM[/PATH], image:///PATH (a model inside the image) or a preset name",
    )
    _common(p)
    p.add_argument("--name", default="tunesmith", help="name of every object")
    p.add_argument("--namespace", help="namespace (default: kubectl's)")
    p.add_argument("--cpu", default="4", help="CPU request per pod, e.g. 4 or 500m")
    p.add_argument("--memory", default="16Gi", help="memory request and limit per pod")
    p.add_argument("--gpus", type=int, default=0, help="nvidia.com/gpu limit per pod")
    p.add_argument("--min-replicas", type=int, default=2, help="HPA minimum (and replicas)")
    p.add_argument("--max-replicas", type=int, default=8, help="HPA maximum")
    p.add_argument("--target-cpu", type=int, default=70, help="HPA: average CPU utilisation %%")
    p.add_argument(
        "--target-waiting",
        type=float,
        metavar="N",
        help="HPA: also hold N waiting requests per pod (needs prometheus-adapter)",
    )
    p.add_argument("--prestop-seconds", type=int, default=5, help="preStop sleep before SIGTERM")
    p.add_argument(
        "--api-key-secret",
        default="tunesmith-api-key",
        metavar="NAME",
        help="Secret whose key `api-key` becomes TUNESMITH_API_KEY",
    )
    p.add_argument("--no-api-key", action="store_true", help="serve without an API key")
    p.set_defaults(command="deploy k8s")

    jobs_cmd.add_deploy_parsers(deploy_sub)
