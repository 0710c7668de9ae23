"""Alert webhooks: each new alert is POSTed as JSON to every configured URL, from a background
thread, retried with exponential back-off; nothing here ever blocks assignment or a check.

The body (``Content-Type: application/json``, ``User-Agent: promolab``)::

    {"type": "promolab.alert", "version": 1,
     "alert": {"id": 7, "experiment": "checkout-coupon", "kind": "guardrail_harm",
               "subject": "pct10/refund", "raised_at": "2025-03-04T10:00:00", "message": "...",
               "numbers": {...}, "action": null | "paused", "resolved_at": null,
               "acknowledged": false, "acknowledged_by": null, "acknowledged_at": null}}

``kind`` is one of srm, multiple_exposures, guardrail_harm, sample_size, boundary_crossed
(``promolab.analysis.health_checks``); ``action`` is "paused" when the experiment opted in
to ``[safety] auto_pause`` and was paused for this alert. A delivery is done on any 2xx
answer; a 5xx, 408, 429 or a network error is retried after ``backoff``·2^k seconds
(k = 0, 1, …) up to ``attempts`` tries in all; another 4xx is not retried. Deliveries wait in
a bounded queue: when it is full, the alert is logged and dropped (it stays in the registry).
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

from promolab.errors import InputError

log = logging.getLogger("promolab.service.webhooks")

BODY_VERSION = 1
DEFAULT_ATTEMPTS = 6
DEFAULT_BACKOFF = 2.0  # seconds before the first retry; doubles each time
DEFAULT_TIMEOUT = 5.0
MAX_QUEUED = 10_000
RETRY_STATUS = (408, 429)


def check_webhook_url(url: Any, field_name: str = "--webhook") -> str:
    """``url`` if it is an absolute http:// or https:// URL with a host, else an InputError."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise InputError(field_name, url, "an http:// or https:// URL with a host (e.g. https://hooks.example.com/x)")
    return url


def alert_body(alert: dict[str, Any]) -> dict[str, Any]:
    """The documented JSON body of one alert (``Alert.to_dict()``)."""
    return {"type": "promolab.alert", "version": BODY_VERSION, "alert": alert}


def post_json(url: str, body: dict[str, Any], timeout: float) -> int:
    """POST ``body``; the HTTP status (an HTTPError's status too; a network error raises)."""
    data = json.dumps(body, allow_nan=False).encode()
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "promolab"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) checked)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    url: str = field(compare=False)
    body: dict[str, Any] = field(compare=False)
    attempt: int = field(default=0, compare=False)


class WebhookSender:
    """A daemon thread delivering queued alert bodies to ``urls`` (``send`` only enqueues)."""

    def __init__(self, urls: Sequence[str], *, attempts: int = DEFAULT_ATTEMPTS, backoff: float = DEFAULT_BACKOFF,
                 timeout: float = DEFAULT_TIMEOUT, post: Callable[[str, dict, float], int] = post_json):
        self.urls = tuple(check_webhook_url(u) for u in urls)
        self.attempts, self.backoff, self.timeout, self.post = attempts, backoff, timeout, post
        self.delivered = 0
        self.failed = 0
        self._heap: list[_Delivery] = []
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="promolab-webhooks", daemon=True)

    def start(self) -> "WebhookSender":
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def pending(self) -> int:
        with self._wake:
            return len(self._heap)

    def send(self, alert: dict[str, Any]) -> None:
        """Queue ``alert`` (an ``Alert.to_dict()``) for every URL; returns at once."""
        body = alert_body(alert)
        with self._wake:
            for url in self.urls:
                if len(self._heap) >= MAX_QUEUED:
                    log.error("webhook queue full: alert %s not sent to %s", alert.get("id"), url)
                    continue
                heapq.heappush(self._heap, _Delivery(time.monotonic(), next(self._seq), url, body))
            self._wake.notify_all()

    def _next(self) -> _Delivery | None:
        with self._wake:
            while not self._stop:
                if self._heap:
                    wait = self._heap[0].due - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self._heap)
                    self._wake.wait(wait)
                else:
                    self._wake.wait()
            return None

    def _run(self) -> None:
        while (item := self._next()) is not None:
            try:
                status, error = self.post(item.url, item.body, self.timeout), None
            except Exception as exc:  # network errors, timeouts: retried
                status, error = None, exc
            if status is not None and 200 <= status < 300:
                self.delivered += 1
                continue
            retry = status is None or status >= 500 or status in RETRY_STATUS
            item.attempt += 1
            what = f"HTTP {status}" if status is not None else f"{type(error).__name__}: {error}"
            if retry and item.attempt < self.attempts:
                delay = self.backoff * 2 ** (item.attempt - 1)
                log.warning("webhook %s: %s; retry %d in %.3g s", item.url, what, item.attempt, delay)
                with self._wake:
                    item.due = time.monotonic() + delay
                    heapq.heappush(self._heap, item)
                continue
            self.failed += 1
            log.error("webhook %s: %s; alert %s not delivered after %d attempt(s)", item.url, what,
                      item.body["alert"].get("id"), item.attempt)


__all__ = ["BODY_VERSION", "WebhookSender", "alert_body", "check_webhook_url", "post_json"]
