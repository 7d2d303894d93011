"""Settings of `eval harness` (lm-evaluation-harness) and the cluster training jobs
(`deploy k8s --train`, `deploy slurm`), declared once like `config/commands.py`: flags,
`--help`, YAML files, dotted overrides, errors and UI forms come from these schemas.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunesmith.config.schema import opt

DTYPES = ["float32", "bfloat16", "float16"]


@dataclass
class EvalHarnessSettings:
    model: str = opt(
        "",
        "a preset name, a Hugging Face model dir, a training run dir or an adapter dir",
        required=True,
        metavar="DIR",
    )
    adapter: str | None = opt(None, "a PEFT adapter dir applied to --model", metavar="DIR")
    tasks: list[str] = opt(
        [], "lm-eval task or group names (also comma-separated)", required=True, metavar="TASK"
    )
    include_path: list[str] = opt(
        [], "directories of task YAML files added to lm-eval's tasks", metavar="DIR"
    )
    num_fewshot: int | None = opt(
        None, "few-shot examples per prompt (default: each task's own)", min=0, metavar="N"
    )
    limit: int = opt(0, "evaluate the first N documents of each task; 0 = all", min=0, metavar="N")
    batch_size: int = opt(8, "requests per forward pass", min=1, metavar="N")
    max_length: int = opt(
        0, "context tokens at most (0: the model's max_position_embeddings)", min=0, metavar="N"
    )
    max_gen_toks: int = opt(
        256,
        "generate_until tasks: new tokens at most (unless the task sets it)",
        min=1,
        metavar="N",
    )
    apply_chat_template: bool = opt(
        False, "render prompts with the tokenizer's chat template (instruction-tuned runs)"
    )
    fewshot_as_multiturn: bool = opt(
        False, "with apply_chat_template: few-shot examples as chat turns"
    )
    seed: int = opt(1234, "seed for few-shot sampling and generation (lm-eval's default)")
    skip_samples: bool = opt(
        False, "do not write harness_samples.jsonl (every prompt, response and score)"
    )
    dtype: str = opt("float32", "weight dtype", choices=DTYPES)
    output: str | None = opt(
        None,
        "results dir (default: as `eval run`: RUN/eval, DIR-eval, runs/eval/NAME)",
        metavar="DIR",
    )


@dataclass
class TrainJobSettings:
    """What a multi-node training job needs on any cluster."""

    train: str = opt(
        "", "the `tunesmith train` config the job runs", required=True, metavar="CONFIG"
    )
    train_overrides: list[str] = opt(
        [], "dotted overrides applied to the training config", metavar="KEY=VALUE"
    )
    nodes: int = opt(1, "machines (one torchrun agent each)", min=1, metavar="N")
    gpus_per_node: int = opt(
        1,
        "GPUs per machine = training processes per machine (0: one CPU process)",
        min=0,
        metavar="G",
    )
    output: str = opt("", "directory to write", required=True, metavar="DIR")
    overwrite: bool = opt(False, "replace --output if it exists and is not empty")
    port: int = opt(29500, "rendezvous port on the first node", min=1, max=65535)
    max_restarts: int = opt(
        3, "torchrun: restarts of the whole worker group after a failure", min=0, metavar="N"
    )


@dataclass
class K8sTrainSettings(TrainJobSettings):
    name: str = opt("tunesmith-train", "PyTorchJob name (and prefix of its objects)")
    namespace: str | None = opt(None, "namespace (default: kubectl's)")
    image: str | None = opt(
        None, "image with tunesmith (default: tunesmith-serve:VERSION-cuda, or -cpu)"
    )
    pvc: str = opt(
        "tunesmith-runs",
        "PersistentVolumeClaim (ReadWriteMany) mounted at workdir on every pod",
        metavar="CLAIM",
    )
    workdir: str = opt(
        "/workspace",
        "the claim's mount and working dir: CONFIG's relative paths resolve here",
        metavar="PATH",
    )
    cpu: str = opt("8", "CPU request per pod, e.g. 8 or 500m")
    memory: str = opt("64Gi", "memory request and limit per pod")
    shm: str = opt("16Gi", "size of /dev/shm (NCCL and data loading use it)")
    backoff_limit: int = opt(3, "pod failures before the job fails (runPolicy)", min=0, metavar="N")


@dataclass
class SlurmTrainSettings(TrainJobSettings):
    job_name: str = opt("tunesmith-train", "#SBATCH --job-name")
    partition: str | None = opt(None, "#SBATCH --partition")
    account: str | None = opt(None, "#SBATCH --account")
    time: str = opt("24:00:00", "#SBATCH --time (walltime)")
    cpus_per_node: int = opt(8, "#SBATCH --cpus-per-task (one task per node)", min=1, metavar="N")
    mem: str | None = opt(None, "#SBATCH --mem per node, e.g. 200G (default: the cluster's)")
    workdir: str | None = opt(
        None,
        "directory the job runs in, on storage every node sees (default: the current "
        "directory); CONFIG's relative paths resolve here",
        metavar="PATH",
    )
    setup: list[str] = opt(
        [],
        "shell lines run before the launch, e.g. 'source .venv/bin/activate'",
        metavar="LINE",
    )


JOB_SCHEMAS: dict[str, type] = {
    "eval harness": EvalHarnessSettings,
    "deploy k8s --train": K8sTrainSettings,
    "deploy slurm": SlurmTrainSettings,
}
