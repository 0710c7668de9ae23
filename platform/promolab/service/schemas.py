"""Request and response bodies of the HTTP API, with their documented limits.

Limits (a request over any of them gets a 4xx naming the field, and nothing is stored):

- ``MAX_EVENTS`` events per ``POST /v1/events`` batch;
- ``MAX_ASSIGN_USERS`` users per ``POST /v1/assign/batch``;
- ``MAX_BODY_BYTES`` bytes per request body (413);
- event timestamps no later than ``MAX_FUTURE`` after the server's clock and no earlier
  than ``MIN_TS``; revenue, discount cost and event values finite and >= 0;
- ids (user, event, source) 1-256 printable characters; at most ``MAX_ATTRIBUTES``
  attributes per user, attribute names up to 64 characters, string values up to 256.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

MAX_EVENTS = 10_000
MAX_ASSIGN_USERS = 1_000
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_ATTRIBUTES = 64
MAX_FUTURE = timedelta(hours=24)
MIN_TS = datetime(2000, 1, 1, tzinfo=timezone.utc)
MIN_TS_NAIVE = MIN_TS.replace(tzinfo=None)
MAX_VALUE = 1e12

Id = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]
ExperimentKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
AttrName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
AttrValue = Union[bool, int, float, Annotated[str, StringConstraints(max_length=256)], None]
Attributes = Annotated[dict[AttrName, AttrValue], Field(max_length=MAX_ATTRIBUTES)]
Amount = Annotated[float, Field(ge=0, le=MAX_VALUE, allow_inf_nan=False)]


def utc_naive(ts: datetime) -> datetime:
    """Aware → UTC; naive is taken as UTC; returned naive (as the registry stores it)."""
    return ts if ts.tzinfo is None else ts.astimezone(timezone.utc).replace(tzinfo=None)


def check_ts(ts: datetime, now: datetime) -> str | None:
    """What is wrong with a (naive UTC) event time, or None; ``now`` is naive UTC."""
    if ts > now + MAX_FUTURE:
        return f"a time no later than {int(MAX_FUTURE.total_seconds() // 3600)} h after now ({now:%Y-%m-%dT%H:%M:%SZ})"
    if ts < MIN_TS_NAIVE:
        return "a time on or after 2000-01-01"
    return None


# Checked against the clock once per batch in the route (cheaper than a validator per event).
Timestamp = datetime
# Output times: the registry stores naive UTC; the API says so (RFC 3339 with +00:00).
UtcTime = Annotated[datetime, AfterValidator(lambda d: d if d.tzinfo else d.replace(tzinfo=timezone.utc))]

STRICT = ConfigDict(extra="forbid")


# -- assignment ---------------------------------------------------------------------------


class AssignRequest(BaseModel):
    """One user; ``experiment`` omitted means every running experiment."""

    model_config = STRICT
    user_id: Id
    attributes: Attributes | None = None
    experiment: ExperimentKey | None = None
    track: bool = Field(True, description=(
        "Record the exposure of each assignment (asynchronously: buffered, committed within about 0.1 s). "
        "An exposed user keeps this variant when weights change."))


class UserIn(BaseModel):
    model_config = STRICT
    user_id: Id
    attributes: Attributes | None = None


class AssignBatchRequest(BaseModel):
    model_config = STRICT
    users: Annotated[list[UserIn], Field(min_length=1, max_length=MAX_ASSIGN_USERS)]
    experiment: ExperimentKey | None = None
    track: bool = True


class Assignment(BaseModel):
    experiment: str
    variant: str
    payload: dict[str, Any]


class AssignResponse(BaseModel):
    user_id: str
    assignments: list[Assignment]


class AssignBatchResponse(BaseModel):
    results: list[AssignResponse]


# -- events ---------------------------------------------------------------------------------


class _EventBase(BaseModel):
    model_config = STRICT
    event_id: Id = Field(description="Client-chosen id; (source, event_id) is stored at most once.")
    user_id: Id
    ts: Timestamp | None = Field(None, description="When it happened (ISO 8601; naive = UTC); default: now.")


class ExposureEvent(_EventBase):
    """The user saw ``variant`` of ``experiment`` (only the first exposure per user is kept)."""

    type: Literal["exposure"]
    experiment: ExperimentKey
    variant: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ConversionEvent(_EventBase):
    """A named event (default ``conversion``) with a value (default 1)."""

    type: Literal["conversion"]
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] = "conversion"
    value: Amount = 1.0


class OrderEvent(_EventBase):
    """An order: stored as event ``order`` (value = revenue) and, when positive, event
    ``discount_cost`` (value = the promotion's cost) with id ``{event_id}:discount_cost``."""

    type: Literal["order"]
    revenue: Amount
    discount_cost: Amount = 0.0


Event = Annotated[Union[ExposureEvent, ConversionEvent, OrderEvent], Field(discriminator="type")]


class EventBatch(BaseModel):
    model_config = STRICT
    source: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] = Field(
        "api", description="Idempotency namespace: events are unique on (source, event_id).")
    events: Annotated[list[Event], Field(min_length=1, max_length=MAX_EVENTS)]


class IngestResponse(BaseModel):
    received: int = Field(description="Events in the batch.")
    inserted_events: int = Field(description="Event rows newly stored (an order with a discount is two rows).")
    inserted_exposures: int = Field(description="First exposures newly stored.")
    duplicates: int = Field(description="Event rows already stored (retries) or repeated in the batch.")


# -- experiments ----------------------------------------------------------------------------


class Change(BaseModel):
    model_config = STRICT
    reason: Annotated[str, StringConstraints(max_length=500)] = ""


class RampRequest(Change):
    traffic_percent: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class ExperimentSummaryOut(BaseModel):
    key: str
    name: str
    kind: str
    status: str
    owner: str
    coverage: float
    created_at: UtcTime
    launched_at: UtcTime | None
    exposures: int


class StatusChangeOut(BaseModel):
    from_status: str | None
    to_status: str
    coverage: float
    changed_by: str
    changed_at: UtcTime
    reason: str


class ExperimentOut(BaseModel):
    status: str
    spec: dict[str, Any]
    history: list[StatusChangeOut]


class StatusOut(BaseModel):
    key: str
    status: str
    traffic_percent: float


class WeightPoint(BaseModel):
    updated_at: UtcTime
    variant_key: str
    weight: float
    policy: str
    reason: str


class WeightsOut(BaseModel):
    key: str
    current: dict[str, float]
    history: list[WeightPoint]


class ConfigExperiment(BaseModel):
    spec: dict[str, Any]
    weights: list[float] | None


class ConfigOut(BaseModel):
    version: int
    experiments: list[ConfigExperiment]


# -- keys -----------------------------------------------------------------------------------


class KeyCreate(BaseModel):
    model_config = STRICT
    kind: Literal["sdk", "admin"]
    name: Annotated[str, StringConstraints(max_length=100)] = ""


class KeyOut(BaseModel):
    key_id: str
    kind: str
    name: str
    created_at: UtcTime
    revoked_at: UtcTime | None


class KeyCreated(KeyOut):
    key: str = Field(description="The full key: shown once, only its hash is stored.")


# -- errors ---------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    value: Any = None
    expected: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail
    problems: list[ErrorDetail] = Field(default_factory=list)


class Health(BaseModel):
    status: str
