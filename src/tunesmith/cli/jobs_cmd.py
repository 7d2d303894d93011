"""`tunesmith eval harness` (lm-evaluation-harness) and the cluster training jobs
(`deploy k8s --train`, `deploy slurm`), each on its settings schema (config/jobs.py):
CONFIG.yaml + dotted overrides, flags as shortcuts.

tunesmith eval harness --model runs/demo/run --tasks my_task --include-path tasks/
tunesmith deploy k8s --train configs/x.yaml --nodes 2 --gpus-per-node 8 --output deploy/train
tunesmith deploy slurm --train configs/x.yaml --nodes 4 --gpus-per-node 8 --output deploy/slurm
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from tunesmith.config.jobs import EvalHarnessSettings, K8sTrainSettings, SlurmTrainSettings
from tunesmith.config.settings import add_settings_args

K8S_TRAIN = "k8s-train"
"""`deploy k8s --train ...` is parsed by this subcommand (see `route_train_job`)."""


def eval_harness(args: argparse.Namespace) -> int:
    from rich.console import Console

    from tunesmith.config.settings import settings_from_args
    from tunesmith.evaluation.harness import run_harness
    from tunesmith.evaluation.report import print_results

    result, paths = run_harness(settings_from_args(args))
    print_results(result, paths, Console())
    return 0


def _print_notes(notes: tuple[str, ...]) -> None:
    for note in notes:
        print(f"note: {note}")


def deploy_k8s_train(args: argparse.Namespace) -> int:
    from tunesmith.config.settings import settings_from_args
    from tunesmith.deploy.pytorchjob import FILES, write_train_job

    out, job = write_train_job(settings_from_args(args))
    print(
        f"wrote a PyTorchJob ({job.world_size} processes) with {', '.join(FILES)} to {out}; "
        "apply with:"
    )
    print(f"  kubectl apply -k {out}")
    _print_notes(job.notes)
    return 0


def deploy_slurm(args: argparse.Namespace) -> int:
    from tunesmith.config.settings import settings_from_args
    from tunesmith.deploy.slurm import SCRIPT, write_slurm

    out, job = write_slurm(settings_from_args(args))
    print(f"wrote {out / SCRIPT} ({job.world_size} processes); submit with:")
    print(f"  sbatch {out / SCRIPT}")
    _print_notes(job.notes)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "eval harness": eval_harness,
    "deploy k8s-train": deploy_k8s_train,
    "deploy slurm": deploy_slurm,
}


def add_eval_parser(eval_sub: argparse._SubParsersAction) -> None:
    p = eval_sub.add_parser(
        "harness", help="run lm-evaluation-harness tasks on a model (adapter applied)"
    )
    add_settings_args(p, EvalHarnessSettings)
    p.set_defaults(command="eval harness")


def add_deploy_parsers(deploy_sub: argparse._SubParsersAction) -> None:
    p = deploy_sub.add_parser(
        K8S_TRAIN,
        help="multi-node training job: Kubeflow PyTorchJob (also `deploy k8s --train CONFIG`)",
    )
    add_settings_args(p, K8sTrainSettings)
    p.set_defaults(command="deploy k8s-train")
    serving = deploy_sub.choices["k8s"]
    serving.epilog = (
        "With --train CONFIG it writes a multi-node training job instead (Kubeflow PyTorchJob); "
        f"see `tunesmith deploy k8s --train CONFIG --help` (= `deploy {K8S_TRAIN}`)."
    )
    p = deploy_sub.add_parser(
        "slurm", help="multi-node training job: sbatch script with srun torchrun"
    )
    add_settings_args(p, SlurmTrainSettings)
    p.set_defaults(command="deploy slurm")


def route_train_job(argv: list[str]) -> list[str]:
    """`deploy k8s ... --train CONFIG ...` -> `deploy k8s-train ...`: one spelling for both
    Kubernetes targets, each with its own settings schema."""
    for i in range(len(argv) - 1):
        if argv[i : i + 2] == ["deploy", "k8s"]:
            rest = argv[i + 2 :]
            if any(a == "--train" or a.startswith("--train=") for a in rest):
                return [*argv[:i], "deploy", K8S_TRAIN, *rest]
            break
    return argv
