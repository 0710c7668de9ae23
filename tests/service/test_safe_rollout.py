"""Safe rollout, end to end with real processes: a ``promolab serve`` process with hourly checks
shortened to one second and a webhook; users assigned through ``/v1/assign/batch``, their
orders and refunds streamed through ``/v1/events``, the treatment refunding six times as
often. The scheduled check pauses the experiment (status history: by "promolab", the
reason), the webhook says "paused", and ``/v1/assign`` then returns the control - to a user
who was in the treatment too - without recording an exposure."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from health_data import KEY, watch_spec  # noqa: E402

from promolab.spec import experiment_from_dict  # noqa: E402
from promolab.store import Registry  # noqa: E402
from promolab.store.keys import create_key  # noqa: E402

from .test_service_alerts import Hook  # noqa: E402
from .test_service_kill9 import free_port, start_server  # noqa: E402

USERS = 3000


def test_a_harmful_variant_streamed_through_events_is_paused_and_assign_serves_control(tmp_path: Path) -> None:
    db = tmp_path / "rollout.duckdb"
    registry = Registry.open(db)
    sdk, admin = create_key(registry, "sdk", "test")[0], create_key(registry, "admin", "test")[0]
    registry.create_experiment(experiment_from_dict(watch_spec(KEY, safety={"auto_pause": True})), by="test")
    registry.set_status(KEY, "running", by="test")
    registry.close()
    hook = Hook()
    port = free_port()
    server = start_server(db, port, tmp_path / "server.log",
                          "--health-period", "1", "--webhook", hook.url)
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {sdk}"}
    try:
        users = [f"u{i:05d}" for i in range(USERS)]
        variants: dict[str, str] = {}
        for start in range(0, USERS, 500):
            r = httpx.post(f"{base}/v1/assign/batch", headers=auth, timeout=30,
                           json={"experiment": KEY, "users": [{"user_id": u} for u in users[start:start + 500]]})
            assert r.status_code == 200, r.text
            variants.update({x["user_id"]: x["assignments"][0]["variant"] for x in r.json()["results"]})
        assert set(variants.values()) == {"a", "b"}
        rng = np.random.default_rng(11)
        events = []
        for u in users:
            if rng.random() < 0.10:
                events.append({"type": "order", "event_id": f"o-{u}", "user_id": u, "revenue": 30.0})
            if rng.random() < (0.30 if variants[u] == "b" else 0.05):
                events.append({"type": "conversion", "event_id": f"r-{u}", "user_id": u, "name": "refund"})
        r = httpx.post(f"{base}/v1/events", headers=auth, json={"source": "shop", "events": events}, timeout=30)
        assert r.status_code == 200, r.text

        def status() -> dict:
            return httpx.get(f"{base}/v1/experiments/{KEY}", headers={"Authorization": f"Bearer {admin}"},
                             timeout=10).json()

        deadline = time.monotonic() + 60
        while status()["status"] != "paused" and time.monotonic() < deadline:
            time.sleep(0.25)
        shown = status()
        assert shown["status"] == "paused", (tmp_path / "server.log").read_text()[-3000:]
        last = shown["history"][-1]
        assert last["changed_by"] == "promolab" and last["to_status"] == "paused"
        assert "guardrail" in last["reason"] and "refund" in last["reason"]

        hook.wait(1, timeout=20)
        paused = [body["alert"] for _, body, _ in hook.calls if body["alert"]["action"] == "paused"]
        assert paused and paused[0]["kind"] == "guardrail_harm" and paused[0]["experiment"] == KEY

        treated = next(u for u in users if variants[u] == "b")
        for user in (treated, "someone-new"):
            r = httpx.post(f"{base}/v1/assign", headers=auth, json={"user_id": user, "experiment": KEY}, timeout=10)
            assert r.status_code == 200, r.text
            assert r.json()["assignments"] == [{"experiment": KEY, "variant": "a", "payload": {}, "paused": True}]
    finally:
        server.terminate()
        server.wait(20)
        hook.close()
    registry = Registry.open(db, read_only=True)
    try:
        with registry._guard() as con:
            stored = con.execute("SELECT user_id FROM exposures WHERE experiment_key = ?", [KEY]).fetchall()
        assert len(stored) == USERS and ("someone-new",) not in stored  # a paused assign records nothing
    finally:
        registry.close()
