"""`tunesmith ui` in a real browser (Chromium through pytest-playwright), on the tiny models.

One UI server (a real `tunesmith ui` process) serves the module; the tests run in order:
a run made from a preset trains and draws its curve, a UI restart still shows it, a running
run stops, a dataset opens, the finished run chats (streamed, side by side with its base),
two runs compare, an eval and an export run. Screenshots of each page go to docs/ui/.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ui_chromium import CHROMIUM

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium found (apt-get install chromium; .ci/run does)"
)
expect = pytest.importorskip("playwright.sync_api").expect

REPO = Path(__file__).resolve().parents[2]
# Screenshots go to a temporary folder; TUNESMITH_UI_SHOTS=docs/ui refreshes the docs' copies.
SHOTS = Path(os.environ.get("TUNESMITH_UI_SHOTS") or tempfile.mkdtemp(prefix="ui-shots-"))
PRESET = "configs/tiny-qwen2/lora.yaml"
TIMEOUT_MS = 90_000


class UIServer:
    def __init__(self, runs: Path) -> None:
        self.runs = runs
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        argv = [sys.executable, "-m", "tunesmith", "ui", "--project", str(REPO)]
        argv += ["--runs", str(self.runs), "--port", str(self.port)]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
        self.proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
        # the URL line, then uvicorn (--log-level warning) stays quiet
        line = self.proc.stderr.readline()
        assert f"tunesmith ui on {self.url}/" in line, line
        for _ in range(100):
            try:
                if httpx.get(self.url + "/api/runs").status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("the UI did not answer")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc.stderr.close()

    def post(self, path: str, body: dict) -> dict:
        r = httpx.post(self.url + path, json=body, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    server = UIServer(tmp_path_factory.mktemp("ui") / "runs")
    server.start()
    yield server
    for run in server.runs.glob("*"):  # nothing keeps training after the tests
        if (run / "ui_job.json").is_file():
            httpx.post(f"{server.url}/api/runs/{run.name}/stop", json={})
    server.stop()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def loss_steps(run: Path) -> int:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return len({r["step"] for r in rows if "loss" in r})


def test_new_run_from_a_preset_trains_and_draws_its_loss_curve(ui: UIServer, page) -> None:
    # a second run for the compare test, trained alongside (two CPUs)
    ui.post(
        "/api/runs",
        {
            "preset": PRESET,
            "name": "second",
            "values": {"train.max_steps": "4", "train.lr": "0.01"},
        },
    )
    page.goto(f"{ui.url}/new?preset={PRESET}")
    page.fill("#run-name", "first")
    page.fill('[name="train.max_steps"]', "4")
    page.fill('[name="train.lr"]', "0.001")
    page.click("#preview-btn")
    expect(page.locator("#preview-command")).to_have_text(
        f"tunesmith train {PRESET} train.max_steps=4 train.lr=0.001 output.dir={ui.runs}/first"
    )
    expect(page.locator("#preview-yaml")).to_contain_text("max_steps: 4")
    shot(page, "new-run")
    page.click("#launch-btn")
    page.wait_for_url(re.compile(r"/run/first$"))
    expect(page.locator("body")).to_have_attribute(
        "data-run-status", "finished", timeout=TIMEOUT_MS
    )
    points = page.locator('#chart-loss g[data-series="loss"] circle.pt')
    expect(points).to_have_count(loss_steps(ui.runs / "first"))
    assert loss_steps(ui.runs / "first") == 4
    expect(page.locator("#outputs")).to_contain_text("adapter")
    shot(page, "run")


def test_a_restarted_ui_still_shows_the_run(ui: UIServer, page) -> None:
    ui.stop()
    ui.start()
    page.goto(ui.url + "/")
    row = page.locator('tr[data-run="first"]')
    expect(row.locator(".status")).to_have_text("finished")
    expect(row).to_contain_text("4 / 4")
    expect(page.locator('tr[data-run="second"] .status')).to_have_text(
        "finished", timeout=TIMEOUT_MS
    )
    shot(page, "runs")


def test_stop_and_resume_a_running_run(ui: UIServer, page) -> None:
    values = {"train.max_steps": "100000", "train.save_every": "2", "train.eval_every": "0"}
    ui.post("/api/runs", {"preset": PRESET, "name": "long", "values": values})
    page.goto(ui.url + "/run/long")
    expect(page.locator("body")).to_have_attribute("data-run-status", "running")
    expect(page.locator("#checkpoints")).to_contain_text("step-", timeout=TIMEOUT_MS)
    page.click("#stop-btn")
    expect(page.locator("body")).to_have_attribute("data-run-status", "interrupted", timeout=30_000)
    # Resume: the recorded command with train.resume=auto continues from the checkpoint
    page.click("#resume-btn")
    expect(page.locator("#command")).to_contain_text("train.resume=auto", timeout=10_000)
    expect(page.locator("body")).to_have_attribute("data-run-status", "running")
    expect(page.locator("#log")).to_contain_text("resumed from", timeout=TIMEOUT_MS)
    page.click("#stop-btn")
    expect(page.locator("body")).to_have_attribute("data-run-status", "interrupted", timeout=30_000)


def test_open_a_dataset(ui: UIServer, page) -> None:
    page.goto(ui.url + "/data")
    page.fill("#data-path", "examples/data/tags/train.jsonl")
    page.click("#open-btn")
    expect(page.locator("#data-format")).to_have_text("messages (800)", timeout=30_000)
    expect(page.locator("#data-count")).to_have_text("800")
    expect(page.locator("#data-preview .record")).to_have_count(3)
    expect(page.locator("#data-preview .trained").first).to_be_visible()
    page.click("#prepare-btn")  # `tunesmith data prepare`, then its report's steps
    job = page.locator("#jobs .job")
    expect(job.locator(".status")).to_have_text("finished", timeout=TIMEOUT_MS)
    expect(job.locator("table.result")).to_contain_text("exact_dedupe")
    shot(page, "data")


def test_chat_with_the_finished_run_streams(ui: UIServer, page) -> None:
    page.goto(f"{ui.url}/playground?model={ui.runs}/first")
    page.check("#pg-compare")
    page.fill("#pg-max", "8")
    page.click("#send-btn")
    for side in ("tuned", "base"):
        answer = page.locator(f"#chat-{side} .msg.assistant")
        expect(answer).to_have_attribute(
            "data-finish", re.compile("length|stop"), timeout=TIMEOUT_MS
        )
        chunks = int(answer.get_attribute("data-chunks"))
        assert chunks > 1, f"{side}: one chunk is not a stream"
    shot(page, "playground")


def test_compare_two_runs(ui: UIServer, page) -> None:
    page.goto(ui.url + "/")
    page.check('tr[data-run="first"] .pick')
    page.check('tr[data-run="second"] .pick')
    page.click("#compare-btn")
    expect(page.locator("#chart-compare g[data-series]")).to_have_count(2)
    expect(page.locator('#chart-compare g[data-series="second"] circle.pt')).to_have_count(4)
    rows = page.locator("#compare-table tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#compare-table thead")).to_contain_text("loss")
    expect(page.locator("#chart-metrics rect.metric-bar").first).to_be_visible()
    shot(page, "compare")


def test_eval_and_export_run_the_commands(ui: UIServer, page) -> None:
    page.goto(ui.url + "/eval")
    page.fill("#ev-model", f"{ui.runs}/first")
    page.fill("#ev-metrics", "loss")
    page.fill("#ev-max", "4")
    page.click("#eval-btn")
    expect(page.locator("#jobs .job")).to_have_count(1)
    page.goto(ui.url + "/export")
    page.fill("#ex-source", f"{ui.runs}/first")
    page.click("#export-btn")
    job = page.locator("#jobs .job")
    expect(job.locator(".status")).to_have_text("finished", timeout=TIMEOUT_MS)
    expect(job).to_contain_text("tunesmith export merge --adapter")
    assert (ui.runs / "export" / "merged" / "config.json").is_file()
    shot(page, "export")
    page.goto(ui.url + "/eval")
    job = page.locator("#jobs .job")
    expect(job.locator(".status")).to_have_text("finished", timeout=TIMEOUT_MS)
    expect(job.locator("table.result")).to_contain_text("loss")
    shot(page, "eval")
    job.locator(".pick-eval").check()
    page.click("#compare-evals-btn")  # the evaluation beside a training run's own
    page.goto(page.url + "&run=first")
    expect(page.locator("#compare-table tbody tr")).to_have_count(2)
