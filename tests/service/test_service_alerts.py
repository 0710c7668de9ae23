"""Scheduled health checks in the service and alert webhooks: a harmful variant raises one
alert (not one per check), logged and POSTed to a local HTTP server; deliveries are retried
with exponential back-off on 500s from a background thread, so nothing waits for them;
a webhook URL that is not http(s) is refused before anything starts."""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from health_data import KEY, watch_registry  # noqa: E402

from promolab.errors import InputError  # noqa: E402
from promolab.service import create_app  # noqa: E402
from promolab.service.webhooks import WebhookSender, check_webhook_url  # noqa: E402
from promolab.store import Registry  # noqa: E402
from promolab.store.keys import create_key  # noqa: E402


class Hook:
    """A local webhook receiver answering the statuses in ``script`` (then 200), slowly if asked."""

    def __init__(self, script: list[int] = (), delay: float = 0.0):
        self.script, self.delay = list(script), delay
        self.calls: list[tuple[float, dict, dict]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.calls.append((time.monotonic(), body, dict(self.headers)))
                time.sleep(hook.delay)
                status = hook.script.pop(0) if hook.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, n: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.calls) < n and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def test_retries_with_exponential_back_off_on_500s() -> None:
    hook = Hook([500, 500, 503])
    sender = WebhookSender([hook.url], backoff=0.1).start()
    try:
        started = time.monotonic()
        sender.send({"id": 1, "kind": "srm"})
        assert time.monotonic() - started < 0.05  # only queued
        hook.wait(4)
        times = [t for t, _, _ in hook.calls]
        assert len(times) == 4 and all(body == {"type": "promolab.alert", "version": 1, "alert": {"id": 1, "kind": "srm"}}
                                       for _, body, _ in hook.calls)
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and gaps[2] >= 0.39  # 0.1, 0.2, 0.4 s
        assert hook.calls[0][2]["Content-Type"] == "application/json"
        deadline = time.monotonic() + 2
        while sender.delivered < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (sender.delivered, sender.failed) == (1, 0)
    finally:
        sender.stop()
        hook.close()


def test_gives_up_after_the_attempts_and_not_on_a_400() -> None:
    hook = Hook([500] * 10 + [400])
    sender = WebhookSender([hook.url], backoff=0.01, attempts=3).start()
    try:
        sender.send({"id": 1})
        hook.wait(3)
        time.sleep(0.2)
        assert len(hook.calls) == 3 and sender.failed == 1
        hook.script = [400]
        sender.send({"id": 2})
        hook.wait(4)
        time.sleep(0.2)
        assert len(hook.calls) == 4 and sender.failed == 2
    finally:
        sender.stop()
        hook.close()


def test_a_slow_or_dead_receiver_does_not_block_sending() -> None:
    slow = Hook(delay=0.5)
    sender = WebhookSender([slow.url, "http://127.0.0.1:9/unreachable"], backoff=0.05, attempts=2).start()
    try:
        started = time.monotonic()
        for i in range(20):
            sender.send({"id": i})
        assert time.monotonic() - started < 0.1
    finally:
        sender.stop(timeout=0.1)
        slow.close()


@pytest.mark.parametrize("url", ["ftp://hooks.example.com/x", "hooks.example.com/x", "http://", "https:///path",
                                 "", None, "http://a b/"])
def test_a_webhook_url_must_be_http_or_https(url, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^--webhook: got .*, expected an http:// or https:// URL"):
        check_webhook_url(url)
    with pytest.raises(InputError, match=r"^--webhook: got"):
        create_app(tmp_path / "r.duckdb", webhooks=[url])
    assert not (tmp_path / "r.duckdb").exists()  # nothing stored
    assert check_webhook_url("https://hooks.example.com/x?a=1") == "https://hooks.example.com/x?a=1"


def test_the_schedule_raises_one_alert_logs_it_and_posts_it(tmp_path: Path, hook: Hook, caplog) -> None:
    db = tmp_path / "r.duckdb"
    registry = watch_registry(db, refund_b=0.15)
    sdk = create_key(registry, "sdk")[0]
    registry.close()
    app = create_app(db, health_period=0.05, webhooks=[hook.url])
    with caplog.at_level("WARNING", logger="promolab.service.scheduler"), TestClient(app) as client:
        state = client.app.state.service
        deadline = time.monotonic() + 20
        while state.health.runs < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert state.health.runs >= 3
        hook.wait(1)
        time.sleep(0.1)
        # assignment is served meanwhile
        r = client.post("/v1/assign", json={"user_id": "new-user", "experiment": KEY},
                        headers={"Authorization": f"Bearer {sdk}"})
        assert r.status_code == 200, r.text
    assert len(hook.calls) == 1  # three checks, one open condition: one alert, one POST
    alert = hook.calls[0][1]["alert"]
    assert (alert["experiment"], alert["kind"], alert["subject"], alert["action"]) == (KEY, "guardrail_harm",
                                                                                      "b/refund", None)
    assert alert["numbers"]["bound"] > 0 and not alert["acknowledged"]
    stored = Registry.open(db).alerts()
    assert [a.to_dict() for a in stored] == [alert]
    assert any("alert 1 on watch-ab [guardrail_harm b/refund]" in r.getMessage() for r in caplog.records)


def test_health_checks_are_on_by_default_hourly(tmp_path: Path) -> None:
    watch_registry(tmp_path / "r.duckdb").close()
    with TestClient(create_app(tmp_path / "r.duckdb")) as client:
        state = client.app.state.service
        assert state.health.period == 3600 and state.webhooks is None
    with TestClient(create_app(tmp_path / "r.duckdb", health_period=None)) as client:
        assert client.app.state.service.health is None
