"""API keys on requests: ``Authorization: Bearer <key>``.

SDK keys may assign, send events and read the client config; admin keys may do that
and everything else. A missing, malformed, unknown or revoked key is 401; a valid SDK
key on an admin route is 403. The answers carry no detail that helps guessing.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from promolab.service.errors import ApiError

bearer = HTTPBearer(auto_error=False, scheme_name="ApiKey",
                    description="An SDK key (pl_sdk_…) or an admin key (pl_admin_…).")


@dataclass(frozen=True)
class Principal:
    kind: str
    key_id: str

    @property
    def by(self) -> str:
        return f"api:{self.key_id}"


def _identify(request: Request, creds: HTTPAuthorizationCredentials | None) -> Principal:
    found = request.app.state.service.keys.identify(creds.credentials if creds else None)
    if found is None:
        raise ApiError(401, "unauthorized", "a valid API key is required", headers={"WWW-Authenticate": "Bearer"})
    return Principal(*found)


async def sdk_key(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    return _identify(request, creds)


async def admin_key(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    principal = _identify(request, creds)
    if principal.kind != "admin":
        raise ApiError(403, "forbidden", "this key may not use this route")
    return principal
