"""JSON API of the UI (the pages call it; so can scripts). Every path is confined by
`Roots.resolve`; every launch is an argv list through `jobs.launch`."""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import StreamingResponse

from tunesmith.errors import ConfigError
from tunesmith.ui import commands, jobs, runs, train_form
from tunesmith.ui.schema_fields import list_fields
from tunesmith.ui.settings import PathDenied, Roots

router = APIRouter(prefix="/api")
JSONBody = Annotated[dict, Body()]


def _roots(request: Request) -> Roots:
    return request.app.state.roots


def run_path(roots: Roots, name: str) -> Path:
    """A run directory named relative to the runs root, confined to it."""
    path = roots.resolve(roots.runs / name)
    if not path.is_relative_to(roots.runs) or path == roots.runs:
        raise PathDenied(f"'{name}' is not inside the runs root")
    if not runs.is_run_dir(path):
        raise ConfigError(f"'{name}' is not a run directory (no config.yaml)")
    return path


@router.get("/runs")
def list_runs(request: Request) -> list[dict]:
    roots = _roots(request)
    return [asdict(runs.run_info(roots, p)) for p in runs.find_runs(roots)]


@router.get("/runs/{name:path}")
def get_run(name: str, request: Request) -> dict:
    roots = _roots(request)
    return runs.run_detail(roots, run_path(roots, name))


@router.get("/fields")
def fields() -> list[dict]:
    return [asdict(f) for f in list_fields()]


@router.get("/presets")
def preset_values(request: Request, preset: str = "") -> dict:
    roots = _roots(request)
    return {
        "presets": train_form.presets(roots),
        "values": train_form.preset_values(roots, preset or None),
    }


def _plan(roots: Roots, body: dict[str, Any]) -> train_form.RunPlan:
    nproc = body.get("nproc")
    return train_form.plan_run(
        roots,
        body.get("preset") or None,
        {str(k): str(v) for k, v in (body.get("values") or {}).items()},
        str(body.get("name") or ""),
        int(nproc) if nproc not in (None, "") else None,
    )


@router.post("/runs/preview")
def preview(request: Request, body: JSONBody) -> dict:
    plan = _plan(_roots(request), body)
    return {"yaml": plan.yaml, "command": plan.command, "overrides": plan.overrides}


@router.post("/runs")
def launch_run(request: Request, body: JSONBody) -> dict:
    roots = _roots(request)
    plan = _plan(roots, body)
    if jobs.read_job(plan.run_dir).status == "running":
        raise ConfigError(f"'{roots.display(plan.run_dir)}' is already running")
    pid = jobs.launch(plan.run_dir, plan.argv, roots.project, plan.command)
    return {"name": str(plan.run_dir.relative_to(roots.runs)), "command": plan.command, "pid": pid}


@router.post("/runs/{name:path}/stop")
def stop_run(name: str, request: Request) -> dict:
    path = run_path(_roots(request), name)
    if not jobs.stop(path):
        raise ConfigError(f"'{name}' is not running")
    return {"stopping": name}


@router.post("/runs/{name:path}/resume")
def resume_run(name: str, request: Request) -> dict:
    roots = _roots(request)
    path = run_path(roots, name)
    job = jobs.read_job(path)
    if job.status == "running":
        raise ConfigError(f"'{name}' is already running")
    argv = job.argv or train_form.tunesmith_argv(["train", roots.display(path / "config.yaml")])
    argv = train_form.resume_argv(argv)
    command = shlex.join(["tunesmith", *argv[3:]])
    pid = jobs.launch(path, argv, roots.project, command)
    return {"name": name, "command": command, "pid": pid}


def _job_dir(roots: Roots, job_id: str) -> Path:
    path = roots.resolve(roots.runs / commands.JOBS_DIR / job_id)
    if path.parent != roots.runs / commands.JOBS_DIR or not (path / jobs.JOB).is_file():
        raise ConfigError(f"no job '{job_id}'")
    return path


def _launch_job(roots: Roots, plan: commands.JobPlan) -> dict:
    command = shlex.join(["tunesmith", *plan.args])
    output = roots.display(plan.output) if plan.output else None
    plan.job_dir.mkdir(parents=True, exist_ok=True)
    (plan.job_dir / "ui_output.json").write_text(json.dumps({"kind": plan.kind, "output": output}))
    jobs.launch(plan.job_dir, train_form.tunesmith_argv(plan.args), roots.project, command)
    return {"id": plan.job_dir.name, "command": command, "output": output}


@router.post("/jobs")
def launch_job(request: Request, body: JSONBody) -> dict:
    roots = _roots(request)
    builders = {
        "eval": commands.eval_plan,
        "export": commands.export_plan,
        "prepare": commands.prepare_plan,
    }
    kind = body.get("kind")
    if kind not in builders:
        raise ConfigError(f"kind: {kind!r} is not one of {', '.join(builders)}")
    return _launch_job(roots, builders[kind](roots, body.get("form") or {}))


RESULT_FILES = ("eval.json", "export_report.json", "report.json")


def job_detail(roots: Roots, path: Path) -> dict:
    state = jobs.read_job(path)
    meta = (
        json.loads((path / "ui_output.json").read_text())
        if (path / "ui_output.json").is_file()
        else {}
    )
    result = None
    if meta.get("output") and state.status == "finished":
        out = roots.resolve(meta["output"])
        for name in RESULT_FILES:
            if (out / name).is_file():
                result = {"file": name, "data": json.loads((out / name).read_text())}
                break
    return {
        "id": path.name,
        "kind": meta.get("kind", ""),
        "status": state.status,
        "returncode": state.returncode,
        "command": state.command,
        "output": meta.get("output"),
        "log": jobs.log_tail(path, 30),
        "result": result,
    }


@router.get("/jobs")
def list_jobs(request: Request, kind: str = "") -> list[dict]:
    roots = _roots(request)
    base = roots.runs / commands.JOBS_DIR
    dirs = (
        sorted((p for p in base.glob("*") if (p / jobs.JOB).is_file()), reverse=True)
        if base.is_dir()
        else []
    )
    details = [job_detail(roots, p) for p in dirs]
    return [d for d in details if d["kind"].startswith(kind)]


@router.get("/jobs/{job_id}")
def get_job(job_id: str, request: Request) -> dict:
    roots = _roots(request)
    return job_detail(roots, _job_dir(roots, job_id))


@router.get("/data")
def inspect_data(request: Request, path: str, max_len: int = 1024) -> dict:
    from tunesmith.ui.datasets import inspect_file

    roots = _roots(request)
    file = roots.resolve(path)
    if not file.is_file():
        raise ConfigError(f"'{path}' is not a file")
    return {"path": roots.display(file), **inspect_file(file, max_len)}


def _compared(roots: Roots, name: str) -> Path:
    """A run (named under the runs root) or an evaluation's output dir (a path)."""
    under_runs = roots.resolve(roots.runs / name)
    if runs.is_run_dir(under_runs):
        return run_path(roots, name)
    path = roots.resolve(name)
    if not (path / "eval.json").is_file() and not runs.is_run_dir(path):
        raise ConfigError(f"'{name}' is neither a run nor an evaluation (no eval.json)")
    return path


@router.get("/compare")
def compare(request: Request, run: Annotated[list[str] | None, Query()] = None) -> dict:
    """Overlaid curves and the `eval compare` table of the chosen runs."""
    from tunesmith.evaluation.compare import load_evaluated, metric_names

    roots = _roots(request)
    run = run or []
    paths = [_compared(roots, name) for name in run]
    if len(paths) < 2:
        raise ConfigError("compare: choose at least two runs")
    curves = {name: runs.read_metrics(p) for name, p in zip(run, paths, strict=True)}
    evaluated, errors = [], {}
    for name, path in zip(run, paths, strict=True):
        try:
            item = load_evaluated(str(path))
        except Exception as e:  # a run that never evaluated: say so in its row
            errors[name] = str(e)
            continue
        item.name = name
        evaluated.append(item)
    keys = metric_names(evaluated) if evaluated else []
    table = [{"run": e.name, **{k: e.metrics.get(k) for k in keys}} for e in evaluated]
    return {"curves": curves, "keys": keys, "table": table, "errors": errors}


@router.post("/chat")
def chat(request: Request, body: JSONBody) -> StreamingResponse:
    from tunesmith.ui.playground import Sampling

    playground = request.app.state.playground
    spec = playground.model_spec(str(body.get("model") or ""))
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ConfigError("messages: expected a non-empty list of {role, content}")
    fields = {
        k: body[k]
        for k in ("max_tokens", "temperature", "top_p", "top_k", "seed")
        if body.get(k) not in (None, "")
    }
    try:
        sampling = Sampling(
            **{
                k: (float(v) if k in ("temperature", "top_p") else int(v))
                for k, v in fields.items()
            }
        )
    except ValueError as e:
        raise ConfigError(f"sampling: {e}") from None
    sampling.check()
    compare_base = bool(body.get("compare_base"))
    if compare_base:
        playground.base_spec(spec)  # fail before streaming when there is no base
    return StreamingResponse(
        _events(playground.stream(spec, messages, sampling, compare_base)),
        media_type="text/event-stream",
    )


def _events(stream):  # noqa: ANN001, ANN202  (an iterator of SSE strings)
    from tunesmith.errors import TunesmithError

    try:
        yield from stream
    except TunesmithError as e:
        yield f"event: error\ndata: {json.dumps({'message': str(e)})}\n\n"
