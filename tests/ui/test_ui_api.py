"""API-level rules of `tunesmith ui`: path confinement, auth, JSON-only POSTs, the New-run
form validated by the CLI's loader, detached jobs that stop and record their exit."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tunesmith.config import load_config
from tunesmith.errors import ConfigError
from tunesmith.ui import jobs
from tunesmith.ui.app import build_app
from tunesmith.ui.schema_fields import list_fields
from tunesmith.ui.settings import Roots, UISettings
from tunesmith.ui.train_form import plan_run, resume_argv

REPO = Path(__file__).resolve().parents[2]
PRESET = "configs/tiny-qwen2/lora.yaml"


@pytest.fixture
def roots(tmp_path: Path) -> Roots:
    return Roots.make(REPO, tmp_path / "runs")


@pytest.fixture
def client(roots: Roots) -> TestClient:
    return TestClient(build_app(UISettings(roots)), base_url="http://127.0.0.1:7860")


def test_paths_outside_project_and_runs_are_403(client: TestClient, roots: Roots, tmp_path: Path):
    for path in ("../../etc/passwd", "/etc/passwd", "configs/../../x.jsonl"):
        r = client.get("/api/data", params={"path": path})
        assert r.status_code == 403, path
        assert r.json()["error"]["type"] == "path_denied"
        assert "outside the project directory and the runs root" in r.json()["error"]["message"]
    r = client.get("/api/runs/../x")  # a run name must stay inside the runs root
    assert r.status_code in (403, 404)
    r = client.get("/api/runs/..%2F..%2Fetc")
    assert r.status_code == 403


def test_symlink_escape_is_403(client: TestClient, roots: Roots, tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jsonl").write_text('{"text": "secret"}\n')
    roots.runs.mkdir(parents=True)
    (roots.runs / "link").symlink_to(outside)
    r = client.get("/api/data", params={"path": str(roots.runs / "link" / "secret.jsonl")})
    assert r.status_code == 403
    r = client.get("/api/runs/link")
    assert r.status_code == 403


def test_a_file_inside_is_read(client: TestClient):
    r = client.get("/api/data", params={"path": "examples/data/tags/validation.jsonl"})
    assert r.status_code == 200
    body = r.json()
    assert body["report"]["records"] == 60
    assert body["formats"] == {"messages": 60}
    assert sum(b["count"] for b in body["histogram"]) == 60


def test_foreign_host_header_is_403_without_a_token(roots: Roots):
    """DNS rebinding: a page served as evil.example that resolves to 127.0.0.1."""
    client = TestClient(build_app(UISettings(roots)), base_url="http://evil.example:7860")
    r = client.get("/api/runs")
    assert r.status_code == 403
    assert r.json()["error"]["type"] == "host_denied"
    for host in ("localhost:7860", "127.0.0.1", "[::1]:7860"):
        assert client.get("/api/runs", headers={"host": host}).status_code == 200, host


def test_token_required_when_set(roots: Roots):
    client = TestClient(build_app(UISettings(roots, host="0.0.0.0", token="s3cret")))
    r = client.get("/api/runs")
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "unauthorized"
    assert client.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/runs", headers={"Authorization": "Bearer s3cret"}).json() == []
    r = client.get("/", params={"token": "s3cret"})  # the browser way: sets a cookie
    assert r.status_code == 200
    assert client.get("/api/runs").status_code == 200  # the cookie now signs requests


def test_non_local_host_needs_a_token(roots: Roots, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("TUNESMITH_UI_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="--host 0.0.0.0: listening beyond this machine needs"):
        UISettings(roots, host="0.0.0.0").check()
    UISettings(roots, host="0.0.0.0", token="t").check()
    UISettings(roots).check()  # 127.0.0.1: no token needed


def test_cli_refuses_non_local_host_without_token(monkeypatch: pytest.MonkeyPatch, capsys):
    from tunesmith.cli.main import main

    monkeypatch.delenv("TUNESMITH_UI_TOKEN", raising=False)
    assert main(["ui", "--host", "0.0.0.0"]) == 2
    assert "needs a token" in capsys.readouterr().err


def test_post_must_be_json(client: TestClient):
    r = client.post("/api/runs/preview", content=b"name=x", headers={"content-type": "text/plain"})
    assert r.status_code == 415


def test_preview_messages_are_the_cli_loaders(client: TestClient, roots: Roots):
    body = {"preset": PRESET, "name": "x", "values": {"train.lr": "abc"}}
    r = client.post("/api/runs/preview", json=body)
    assert r.status_code == 400
    with pytest.raises(ConfigError) as cli:
        load_config(REPO / PRESET, ["train.lr=abc"])
    assert r.json()["error"]["message"] == str(cli.value)
    body["values"] = {"train.lr": "0.001", "train.max_steps": "3", "data.max_len": "256"}
    r = client.post("/api/runs/preview", json=body)
    assert r.status_code == 200
    out = str(roots.runs / "x")
    assert r.json()["command"] == (
        f"tunesmith train {PRESET} train.lr=0.001 train.max_steps=3 output.dir={out}"
    )  # data.max_len is the preset's own value: no override
    assert "max_steps: 3" in r.json()["yaml"]


def test_nproc_needs_a_distributed_strategy(roots: Roots):
    with pytest.raises(ConfigError, match="--nproc 2: distributed.strategy is 'none'"):
        plan_run(roots, PRESET, {}, "x", nproc=2)
    plan = plan_run(roots, "configs/tiny-qwen2/lora-ddp.yaml", {}, "x", nproc=2)
    assert plan.argv[:4] == [sys.executable, "-m", "tunesmith", "train"]
    assert plan.argv[-1] == "--nproc=2"
    assert resume_argv(plan.argv)[-2:] == ["train.resume=auto", "--nproc=2"]


def test_bad_run_names(roots: Roots):
    for name in ("../x", "a/b", "", "-x"):
        with pytest.raises(ConfigError, match="run name"):
            plan_run(roots, PRESET, {}, name)


def test_fields_listing_covers_the_schema():
    specs = {f.key: f for f in list_fields()}
    assert specs["train.lr"].bounds == ["> 0"] and specs["train.lr"].default == 2e-4
    assert specs["method.name"].choices[:2] == ["lora", "dora"]
    assert specs["data.val_split"].bounds == [">= 0", "<= 0.5"]
    assert specs["method.lora.r"].section == "method.lora"


def test_job_stops_and_records_its_exit(tmp_path: Path):
    job = tmp_path / "job"
    jobs.launch(
        job,
        [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
        tmp_path,
    )
    assert jobs.read_job(job).status == "running"
    assert jobs.stop(job)
    state = jobs.wait(job, 20)
    assert state.status == "interrupted"
    assert state.returncode != 0
    assert not jobs.stop(job)  # nothing left to stop


def test_job_failure_and_success(tmp_path: Path):
    jobs.launch(tmp_path / "bad", [sys.executable, "-c", "raise SystemExit(3)"], tmp_path)
    jobs.launch(tmp_path / "ok", [sys.executable, "-c", "print('hello')"], tmp_path)
    bad, ok = jobs.wait(tmp_path / "bad", 20), jobs.wait(tmp_path / "ok", 20)
    assert (bad.status, bad.returncode) == ("failed", 3)
    assert (ok.status, ok.returncode) == ("finished", 0)
    assert jobs.log_tail(tmp_path / "ok") == "hello"


def test_job_found_again_without_the_launching_process(tmp_path: Path):
    """A UI restart forgets its children: the record alone tells running from gone."""
    job = tmp_path / "job"
    pid = jobs.launch(job, [sys.executable, "-c", "import time; time.sleep(15)"], tmp_path)
    jobs._children.clear()  # as after a restart
    assert jobs.read_job(job).status == "running"
    import os
    import signal

    os.kill(pid, signal.SIGKILL)  # the runner dies without writing its exit file
    for _ in range(50):
        if jobs.read_job(job).status != "running":
            break
        import time

        time.sleep(0.1)
    assert jobs.read_job(job).status == "interrupted"


def _events(text: str) -> list[dict]:
    import json

    return [json.loads(b[6:]) for b in text.split("\n\n") if b.startswith("data: ")]


def test_chat_streams_what_the_engine_generates(client: TestClient):
    """The playground's SSE deltas add up to the text `tunesmith generate` would give."""
    from tunesmith.inference import Engine, SamplingParams
    from tunesmith.serve.generation import ChoiceJob
    from tunesmith.serve.loading import load_served
    from tunesmith.serve.offline import run_jobs
    from tunesmith.serve.prompts import render_chat

    messages = [{"role": "user", "content": "Tag this: the soup was cold"}]
    r = client.post(
        "/api/chat", json={"model": "tiny-qwen2", "messages": messages, "max_tokens": 6}
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = _events(r.text)
    assert len(events) > 1 and {e["side"] for e in events} == {"tuned"}
    assert events[-1]["finish"] == "length"
    streamed = "".join(e["reasoning"] + e["content"] for e in events)

    model, tok, _ = load_served("tiny-qwen2")
    ids = tok.encode(render_chat(tok, messages), add_special_tokens=False)
    params = SamplingParams(max_tokens=6, temperature=0.0, stop_token_ids=[tok.eos_token_id])
    done = run_jobs(Engine(model, max_batch=4), tok, [ChoiceJob(0, "x", ids, params)])
    assert streamed == done[0][0]
    assert "event: done" in r.text


def test_chat_errors_are_4xx_before_streaming(client: TestClient):
    messages = [{"role": "user", "content": "hi"}]
    r = client.post(
        "/api/chat", json={"model": "tiny-qwen2", "messages": messages, "compare_base": True}
    )
    assert r.status_code == 400
    assert "no base to compare with" in r.json()["error"]["message"]
    r = client.post("/api/chat", json={"model": "tiny-qwen2", "messages": [], "max_tokens": 4})
    assert r.status_code == 400
    r = client.post(
        "/api/chat", json={"model": "tiny-qwen2", "messages": messages, "max_tokens": 0}
    )
    assert r.json()["error"]["message"] == "max_tokens: must be 1..4096, got 0"
    r = client.post("/api/chat", json={"model": "../../etc", "messages": messages})
    assert r.status_code == 403


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (
            {"model": "tiny-qwen2", "data": "examples/data/tags/test.jsonl", "name": ".."},
            "name '..'",
        ),
        ({"model": "tiny-qwen2", "data": "/etc/passwd"}, "outside the project"),
        ({"model": "/etc", "data": "examples/data/tags/test.jsonl"}, "outside the project"),
        (
            {"model": "tiny-qwen2", "data": "examples/data/tags/test.jsonl", "metrics": "em;rm"},
            "metrics: 'em;rm' may only hold",
        ),
    ],
)
def test_job_forms_are_checked_before_launch(client: TestClient, roots: Roots, form, message):
    r = client.post("/api/jobs", json={"kind": "eval", "form": form})
    assert r.status_code in (400, 403)
    assert message in r.json()["error"]["message"]
    assert not (roots.runs / ".ui" / "jobs").exists()  # nothing was started


def test_job_argv_is_the_cli_command(roots: Roots):
    from tunesmith.ui.commands import eval_plan, export_plan

    plan = eval_plan(roots, {"model": "tiny-qwen2", "data": "examples/data/tags/test.jsonl"})
    out = str(roots.runs / "eval" / "eval")
    assert plan.args == [
        "eval", "run", "--model", "tiny-qwen2", "--data", "examples/data/tags/test.jsonl",
        "--metrics", "loss", "--max-samples", "0", "--max-new-tokens", "32", "--output", out,
    ]  # fmt: skip
    roots.runs.mkdir(parents=True)
    plan = export_plan(roots, {"action": "gguf", "source": str(roots.runs), "outtype": "q8_0"})
    assert plan.args[:3] == ["export", "gguf", "--model"] and plan.args[-2:] == [
        "--outtype",
        "q8_0",
    ]
