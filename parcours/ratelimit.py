"""A per-subject rate limit: one caller cannot take a process for itself.

Each token subject (``sub`` in its CPTS) has a bucket of ``rate_limit_burst``
requests that refills at ``rate_limit_per_second`` (defaults: 1,000 a second,
bursts of 2,000, per process; ``0`` turns the limit off). A request that finds
the bucket empty is answered at once with 429 and ``Retry-After`` (whole
seconds). Health checks and unauthenticated routes carry no subject and are
never limited; a live feed counts once, when it opens.
"""

from __future__ import annotations

import math
import time

from litestar.types import ASGIApp, Receive, Scope, Send

MAX_SUBJECTS = 100_000  # buckets kept before the full ones are forgotten


class SubjectRateLimitMiddleware:
    def __init__(self, app: ASGIApp, per_second: float, burst: int) -> None:
        self.app, self.rate, self.burst = app, per_second, max(1, burst)
        self.buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def _retry_after(self, key: tuple[str, str], now: float) -> int:
        """0 when the request may go (and is counted), else the seconds to wait."""
        tokens, last = self.buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1:
            self.buckets[key] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / self.rate))
        if len(self.buckets) >= MAX_SUBJECTS and key not in self.buckets:
            self._forget_full(now)
        self.buckets[key] = (tokens - 1, now)
        return 0

    def _forget_full(self, now: float) -> None:
        refill = self.burst / self.rate
        self.buckets = {k: v for k, v in self.buckets.items() if now - v[1] < refill}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        sub, cpts = getattr(user, "sub", None), getattr(user, "cpts", None)
        if (
            self.rate <= 0
            or scope["type"] != "http"
            or sub is None
            or scope["path"].startswith("/health")
        ):
            await self.app(scope, receive, send)
            return
        wait = self._retry_after((str(cpts), str(sub)), time.monotonic())
        if not wait:
            await self.app(scope, receive, send)
            return
        body = (
            b'{"type":"https://parcours.example/problems/too-many-requests",'
            b'"title":"Too many requests","status":429,"detail":"this caller sent more than '
            + f"{self.rate:g} requests a second (bursts of {self.burst}); retry after "
            f'{wait} s","retry_after":{wait}}}'.encode()
        )
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"retry-after", str(wait).encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
