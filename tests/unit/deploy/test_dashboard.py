"""The shipped Grafana dashboard: every PromQL metric name is one the server exports."""

from __future__ import annotations

import json
import re

import pytest

from tunesmith.deploy.common import dashboard_json
from tunesmith.serve.metrics import ServerMetrics

SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=[{\[])")
LABEL_VALUES = re.compile(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
}


def exported_names() -> set[str]:
    """Sample names the server's /metrics exposes (a counter `x` as x_total, ...)."""
    names = set()
    for family in ServerMetrics("m").registry.collect():
        names |= {family.name + suffix for suffix in SUFFIXES[family.type]}
    return names


def queries(dashboard: dict) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            exprs.append(var["query"]["query"])
    return exprs


def metric_names(expr: str) -> set[str]:
    return set(SELECTOR.findall(expr)) | set(LABEL_VALUES.findall(expr))


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(dashboard_json())


def test_every_metric_name_in_the_dashboard_is_exported_by_the_server(dashboard):
    exported = exported_names()
    used = set()
    for expr in queries(dashboard):
        names = metric_names(expr)
        assert names, f"no metric selector found in {expr!r}"
        assert names <= exported, f"{sorted(names - exported)} in {expr!r} is not exported"
        used |= names
    assert used == {
        "tunesmith:time_to_first_token_seconds_bucket",
        "tunesmith:inter_token_latency_seconds_bucket",
        "tunesmith:e2e_request_latency_seconds_bucket",
        "tunesmith:request_queue_time_seconds_bucket",
        "tunesmith:prompt_tokens_total",
        "tunesmith:generation_tokens_total",
        "tunesmith:request_success_total",
        "tunesmith:http_responses_total",
        "tunesmith:num_requests_running",
        "tunesmith:num_requests_waiting",
        "tunesmith:num_requests_in_flight",
        "tunesmith:kv_cache_usage_perc",
    }


def test_the_name_check_catches_a_wrong_name():
    assert metric_names('sum(rate(tunesmith:generation_tokens{model_name="a"}[1m]))') == {
        "tunesmith:generation_tokens"
    }
    assert "tunesmith:generation_tokens" not in exported_names()  # the counter is _total
    assert metric_names("label_values(tunesmith:num_requests_running, model_name)") == {
        "tunesmith:num_requests_running"
    }


def test_panels_cover_the_serving_signals_and_are_well_formed(dashboard):
    titles = [p["title"] for p in dashboard["panels"] if p["type"] != "row"]
    assert titles == [
        "Requests / s",
        "Generated tokens / s",
        "TTFT p90",
        "Error rate (5xx)",
        "Waiting requests",
        "KV cache usage",
        "Time to first token",
        "Inter-token latency",
        "End-to-end request latency",
        "Queue time",
        "Token throughput",
        "Requests in the server",
        "KV cache usage",
        "Finished requests by reason",
        "HTTP errors by status",
        "Error ratio",
    ]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for p in dashboard["panels"]:
        grid = p["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        for t in p.get("targets", []):
            assert t["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    assert dashboard["uid"] == "tunesmith-serve"
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource", "model_name"]
