"""augment_paraphrase against a tiny OpenAI-compatible server started in the test."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from helpers import write_jsonl
from tunesmith.cli.main import main
from tunesmith.data.curate.pipeline import prepare
from tunesmith.data.load import load_conversations


class FakeOpenAI(BaseHTTPRequestHandler):
    """Answers chat completions: 'P(text)' to paraphrase, '<Language>(text)' to translate."""

    requests: list[dict] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeOpenAI.requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        system, user = body["messages"][0]["content"], body["messages"][1]["content"]
        if system.startswith("Translate"):
            language = system.split("into ")[1].split(".")[0]
            content = f"<{language}>({user})"
        else:
            content = f"P({user})"
        reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
        data = json.dumps(reply).encode()
        self.send_response(FakeOpenAI.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    FakeOpenAI.requests, FakeOpenAI.status = [], 200
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def records(n: int) -> list[dict]:
    return [
        {
            "messages": [
                {"role": "user", "content": f"question {i}"},
                {"role": "assistant", "content": f"answer {i}"},
            ],
            "label": "q",
        }
        for i in range(n)
    ]


def config(tmp_path: Path, endpoint: str, **step: object) -> dict:
    src = write_jsonl(tmp_path / "raw.jsonl", records(3))
    settings = {"endpoint": endpoint, "fraction": 1.0, "concurrency": 2, **step}
    return {
        "input": {"paths": [str(src)]},
        "output": {"dir": str(tmp_path / "out"), "progress": False},
        "steps": [{"augment_paraphrase": settings}],
    }


def test_paraphrase_adds_one_tagged_copy_per_chosen_record(tmp_path, server, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", "sk-test")
    report = prepare(config(tmp_path, server, api_key_env="FAKE_KEY", model="m1"))
    assert (report.records_in, report.added, report.records_out) == (3, 3, 6)
    lines = [json.loads(x) for x in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    assert [r["tunesmith"]["origin"] for r in lines] == ["input", "paraphrase"] * 3
    assert lines[1]["messages"][0]["content"] == "P(question 0)"
    assert lines[1]["messages"][1]["content"] == "answer 0" and lines[1]["label"] == "q"
    assert lines[1]["tunesmith"]["source"] == lines[0]["tunesmith"]["source"]
    assert len(FakeOpenAI.requests) == 3
    first = FakeOpenAI.requests[0]
    assert first["path"] == "/v1/chat/completions" and first["auth"] == "Bearer sk-test"
    assert first["body"]["model"] == "m1" and first["body"]["temperature"] == 0.7
    assert len(load_conversations([tmp_path / "out" / "train.jsonl"]).conversations) == 6


def test_back_translation_goes_through_the_pivot_and_back(tmp_path, server):
    cfg = config(tmp_path, server, mode="back_translate", pivot="German", roles=["assistant"])
    report = prepare(cfg)
    assert report.added == 3 and len(FakeOpenAI.requests) == 6
    lines = [json.loads(x) for x in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    assert lines[1]["messages"][1]["content"] == "<English>(<German>(answer 0))"
    assert lines[1]["tunesmith"]["origin"] == "back_translation"
    assert lines[1]["messages"][0]["content"] == "question 0"


def test_a_failing_endpoint_stops_the_run_with_exit_2(tmp_path, server, capsys):
    FakeOpenAI.status = 500
    write_jsonl(tmp_path / "raw.jsonl", records(1))
    argv = [
        "data",
        "prepare",
        "--input",
        str(tmp_path / "raw.jsonl"),
        "--output",
        str(tmp_path / "out"),
        f"steps=[{{augment_paraphrase: {{endpoint: '{server}', fraction: 1.0, retries: 1}}}}]",
    ]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        f"error: steps.augment_paraphrase: request to {server}/chat/completions failed "
        "2 time(s): HTTP 500 Internal Server Error\n"
    )
