"""Prometheus metrics of one gateway app, in a registry of its own (so several apps can share a process)."""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

# Routes get their own label value; anything else is "other", so scanners cannot grow the label set.
ROUTES = ("/v1/chat/completions", "/v1/models", "/retrieval", "/health", "/ready", "/metrics")

# Seconds. A streamed request lasts until its last byte, so the top buckets cover long answers.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
RETRIEVAL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("medkit_gateway_requests", "HTTP requests answered, by route and status",
                                ("route", "status"), registry=self.registry)
        self.latency = Histogram("medkit_gateway_request_seconds", "Time to the last byte of the response",
                                 ("route",), buckets=LATENCY_BUCKETS, registry=self.registry)
        self.retrieval = Histogram("medkit_gateway_retrieval_seconds", "Retriever.search time",
                                   buckets=RETRIEVAL_BUCKETS, registry=self.registry)
        self.upstream_errors = Counter("medkit_gateway_upstream_errors",
                                       "Failed upstream calls: unreachable, timeout, broken, http_4xx, http_5xx; "
                                       "retried: dropped before any response byte, sent again",
                                       ("kind",), registry=self.registry)

    @staticmethod
    def route(path: str) -> str:
        return path if path in ROUTES else "other"

    def observe(self, path: str, status: int, seconds: float) -> None:
        route = self.route(path)
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
