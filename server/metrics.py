"""Prometheus metrics: requests, images, latency by route, and the version being served.

Two registries, two audiences. `registry` holds aggregates (every caller's requests together):
public, on `/metrics`. `tenants` holds what each caller did (images, budget refusals, by a key's
digest label or `anonymous`): one tenant's traffic is none of another's business, so they are
served only with the admin token, on `/admin/metrics`.

Each app owns its registries, so several apps in one process (tests) do not share counters.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("uia_requests", "HTTP requests", ["route", "method", "status"], registry=self.registry)
        self.images = Counter("uia_images", "images classified", ["route"], registry=self.registry)
        self.latency = Histogram("uia_request_duration_seconds", "request latency", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.version = Gauge("uia_model_version_info", "the model version being served (value 1)", ["version"],
                             registry=self.registry)
        self.tenants = CollectorRegistry()
        self.tenant_images = Counter("uia_tenant_images", "images classified, by caller", ["tenant"],
                                     registry=self.tenants)
        self.tenant_refusals = Counter("uia_tenant_budget_refusals", "requests refused by the query budget, by "
                                       "caller", ["tenant"], registry=self.tenants)

    def classified(self, route: str, tenant: str, images: int) -> None:
        self.images.labels(route).inc(images)
        self.tenant_images.labels(tenant).inc(images)

    def refused(self, tenant: str) -> None:
        self.tenant_refusals.labels(tenant).inc()

    def served_version(self, version: str) -> None:
        self.version.clear()
        self.version.labels(version=version).set(1)


class MetricsMiddleware:
    """Times every HTTP request and counts it by route template, method and status."""

    def __init__(self, app, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = 500

        async def recording_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)
