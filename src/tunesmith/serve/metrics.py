"""Prometheus metrics, named like vLLM's (`tunesmith:` for `vllm:`), one registry per server.

Latencies come from the engine's per-request timestamps, observed in the engine thread after
each step; gauges read the engine live when /metrics is scraped.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from tunesmith.inference.async_engine import AsyncEngine
from tunesmith.inference.request import RequestOutput
from tunesmith.serve.admission import Admission

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_TOKEN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class ServerMetrics:
    """The server's metrics; `observe_step` is the engine's `on_step` callback."""

    def __init__(self, model_name: str):
        r = self.registry = CollectorRegistry()
        labels = ["model_name"]
        self.model_name = model_name
        self.ttft = Histogram(
            "tunesmith:time_to_first_token_seconds",
            "Time from arrival to the first generated token.",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.itl = Histogram(
            "tunesmith:inter_token_latency_seconds",
            "Time between two generated tokens of a request.",
            labels,
            buckets=_TOKEN_BUCKETS,
            registry=r,
        )
        self.e2e = Histogram(
            "tunesmith:e2e_request_latency_seconds",
            "Time from arrival to the end of a request.",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_time = Histogram(
            "tunesmith:request_queue_time_seconds",
            "Time a request waited for a KV slot.",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.prompt_tokens = Counter(
            "tunesmith:prompt_tokens", "Prompt tokens processed.", labels, registry=r
        )
        self.generation_tokens = Counter(
            "tunesmith:generation_tokens", "Tokens generated.", labels, registry=r
        )
        self.finished = Counter(
            "tunesmith:request_success",
            "Requests ended, by finish reason (stop, length, abort).",
            [*labels, "finished_reason"],
            registry=r,
        )
        self.responses = Counter(
            "tunesmith:http_responses",
            "HTTP responses by status code.",
            ["status"],
            registry=r,
        )
        self.running = Gauge(
            "tunesmith:num_requests_running", "Requests holding a KV slot.", labels, registry=r
        )
        self.waiting = Gauge(
            "tunesmith:num_requests_waiting", "Requests queued for a slot.", labels, registry=r
        )
        self.kv_usage = Gauge(
            "tunesmith:kv_cache_usage_perc", "Fraction of KV slots in use.", labels, registry=r
        )
        self.in_flight = Gauge(
            "tunesmith:num_requests_in_flight",
            "Generations admitted by the server and not yet answered.",
            labels,
            registry=r,
        )
        self.prefix_hit_rate = Gauge(
            "tunesmith:prefix_cache_hit_rate",
            "Prompt tokens loaded from the prefix cache / tokens that could hit (0: off).",
            labels,
            registry=r,
        )
        self._last_token: dict[str, float] = {}
        self._seen_tokens: dict[str, int] = {}

    def bind(self, engine: AsyncEngine, admission: Admission) -> None:
        """Gauges read live: the engine's queue and slots, the server's admitted requests."""
        name = self.model_name
        self.running.labels(name).set_function(lambda: engine.num_running)
        self.waiting.labels(name).set_function(lambda: engine.num_waiting)
        self.kv_usage.labels(name).set_function(lambda: engine.engine.cache.usage)
        self.in_flight.labels(name).set_function(lambda: admission.in_flight)
        cache = engine.engine.prefix_cache
        self.prefix_hit_rate.labels(name).set_function(lambda: cache.stats.hit_rate if cache else 0)

    def observe_step(self, outputs: list[RequestOutput]) -> None:
        name = self.model_name
        for out in outputs:
            m, rid = out.metrics, out.request_id
            if m is None:
                continue
            n = len(out.token_ids) + (out.stop_token_id is not None)
            new = n - self._seen_tokens.get(rid, 0)
            self._seen_tokens[rid] = n
            if new > 0:
                self.generation_tokens.labels(name).inc(new)
                prev = self._last_token.get(rid)
                if prev is None and m.first_token is not None:
                    self.ttft.labels(name).observe(m.first_token - m.arrival)
                    if m.scheduled is not None:
                        self.queue_time.labels(name).observe(m.scheduled - m.arrival)
                elif prev is not None and m.last_token is not None:
                    self.itl.labels(name).observe(m.last_token - prev)
                if m.last_token is not None:
                    self._last_token[rid] = m.last_token
            if out.finished:
                self._finish(out)

    def _finish(self, out: RequestOutput) -> None:
        name, m = self.model_name, out.metrics
        self._last_token.pop(out.request_id, None)
        self._seen_tokens.pop(out.request_id, None)
        self.finished.labels(name, out.finish_reason).inc()
        if m is None:
            return
        if m.scheduled is not None:  # its prompt went (at least partly) through the model
            self.prompt_tokens.labels(name).inc(len(out.prompt_token_ids))
        if m.finished is not None:
            self.e2e.labels(name).observe(m.finished - m.arrival)

    def render(self) -> bytes:
        return generate_latest(self.registry)
