"""API keys for the HTTP service: SDK keys (assign, send events) and admin keys (everything).

A key is ``pl_sdk_<id>_<secret>`` or ``pl_admin_<id>_<secret>``: ``id`` is 8 random hex
characters, shown in listings so a key can be named without revealing it; ``secret`` is
32 random bytes (URL-safe base64). Only ``sha256(key)`` is stored; a presented key is
hashed and compared with ``hmac.compare_digest``. The full key is shown once, at
creation, and cannot be recovered from the registry.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from promolab.errors import InputError, StateError
from promolab.store.migrations import first_row
from promolab.store.registry import Registry, now_utc

KINDS = ("sdk", "admin")
PREFIX = {"sdk": "pl_sdk_", "admin": "pl_admin_"}
_FORMAT = re.compile(r"^pl_(sdk|admin)_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$")
MAX_NAME = 100


@dataclass(frozen=True)
class ApiKey:
    """A stored key without its secret."""

    key_id: str
    kind: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_key(registry: Registry, kind: str, name: str = "") -> tuple[str, ApiKey]:
    """A new key of ``kind``: (the full token, shown once; its stored record)."""
    if kind not in KINDS:
        raise InputError("kind", kind, "one of " + ", ".join(KINDS))
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise InputError("name", name, f"a string of at most {MAX_NAME} characters")
    key_id = secrets.token_hex(4)
    token = f"{PREFIX[kind]}{key_id}_{secrets.token_urlsafe(32)}"
    ts = now_utc()
    with registry.transaction() as con:
        con.execute("INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, NULL)", [key_id, kind, name, hash_key(token), ts])
    return token, ApiKey(key_id, kind, name, ts, None)


def list_keys(registry: Registry) -> list[ApiKey]:
    rows = registry.query("SELECT key_id, kind, name, created_at, revoked_at FROM api_keys ORDER BY created_at")
    return [
        ApiKey(r.key_id, r.kind, r.name, r.created_at.to_pydatetime(),
               None if r.revoked_at is None or r.revoked_at != r.revoked_at else r.revoked_at.to_pydatetime())
        for r in rows.itertuples()
    ]


def revoke_key(registry: Registry, key_id: str) -> None:
    """Revoke a key. The last active admin key cannot be revoked (a running service would be
    left without an admin): create another admin key first. Checked and written in one
    transaction, so two concurrent revocations cannot both pass."""
    with registry.transaction() as con:
        row = first_row(con.execute("SELECT revoked_at, kind FROM api_keys WHERE key_id = ?", [key_id]))
        if row is None:
            raise InputError("key_id", key_id, "the id of a stored key (see promolab keys list)")
        if row[0] is None and row[1] == "admin":
            admins = first_row(con.execute(
                "SELECT COUNT(*) FROM api_keys WHERE kind = 'admin' AND revoked_at IS NULL"))[0]
            if admins == 1:
                raise StateError(f"key_id: {key_id} is the last active admin key; revoking it would leave the "
                                 "service without an admin - create another admin key first")
        con.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ?", [now_utc(), key_id])


class KeyRing:
    """The active keys' hashes held in memory; ``kind_of(token)`` is what auth asks."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self._by_id: dict[str, tuple[str, str]] = {}
        self.reload()

    def reload(self) -> None:
        rows = self.registry.query("SELECT key_id, kind, key_hash FROM api_keys WHERE revoked_at IS NULL")
        self._by_id = {r.key_id: (r.kind, r.key_hash) for r in rows.itertuples()}

    def __len__(self) -> int:
        return len(self._by_id)

    def identify(self, token: str | None) -> tuple[str, str] | None:
        """(kind, key_id) for a valid active key, else None (no hint why)."""
        if not token or len(token) > 128:
            return None
        m = _FORMAT.match(token)
        if m is None:
            return None
        entry = self._by_id.get(m.group(2))
        if entry is None:
            return None
        kind, stored = entry
        if not hmac.compare_digest(stored, hash_key(token)) or kind != m.group(1):
            return None
        return kind, m.group(2)

    def kind_of(self, token: str | None) -> str | None:
        """'sdk' or 'admin' for a valid active key, else None."""
        found = self.identify(token)
        return None if found is None else found[0]
