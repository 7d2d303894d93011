"""Schema fuzz: schemathesis drives a live `tunesmith serve` through its own /openapi.json.

Every operation gets a bounded number of generated requests (schema-valid ones and, in
negative mode, schema-invalid ones), in schemathesis' coverage and fuzzing phases. The
document names the served model in every request's `model`, so valid requests reach the
engine. The server must answer no 5xx, only the statuses and content types it documents,
and bodies (JSON, and every event of a stream) that match the documented schemas. The
server runs with a 64-token context window, so every generation is short: the fuzz is about
the protocol, not the model.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
from serve_process import serve_process

EXAMPLES = 40
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_headers_conformance,response_schema_conformance"
)


def _statuses(url: str) -> dict[str, int]:
    counts = {}
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith("tunesmith:http_responses_total{"):
            status = line.split('status="')[1].split('"')[0]
            counts[status] = int(float(line.rsplit(" ", 1)[1]))
    return counts


def test_schemathesis_finds_no_5xx_and_no_mismatch(tmp_path: Path) -> None:
    options = ("--max-model-len", "64", "--max-batch", "8", "--log-level", "error")
    with serve_process(*options) as (url, _):
        cmd = [
            *(sys.executable, "-m", "schemathesis.cli", "run", url + "/openapi.json"),
            *("--checks", CHECKS, "--max-examples", str(EXAMPLES), "--seed", "1"),
            *("--mode", "all", "--workers", "1", "--no-color", "--request-timeout", "60"),
            *("--generation-database", "none", "--report", "json"),
            *("--report-json-path", str(tmp_path / "fuzz.json")),
        ]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
        statuses = _statuses(url)
    report = json.loads((tmp_path / "fuzz.json").read_text())
    cases, operations = report["test_cases"], report["operations"]
    print(
        f"fuzz: {cases['generated']} requests over {operations['tested']} operations, "
        f"{cases['with_failures']} with failures, {len(report['errors'])} errors; "
        f"server statuses {statuses}"
    )
    assert run.returncode == 0, run.stdout[-6000:]
    assert report["failures"] == [] and report["errors"] == []
    assert cases["with_failures"] == cases["errored"] == 0
    assert operations["tested"] == operations["total"] == 8
    assert cases["generated"] >= 8 * EXAMPLES
    assert statuses.get("200", 0) > 100  # the valid requests got through to the engine
    assert not [s for s in statuses if s.startswith("5")], statuses
