"""Request and response bodies of the HTTP API, with their documented limits.

Limits (a request over any of them gets a 4xx naming the field, and nothing is stored):

- ``MAX_EVENTS`` events per ``POST /v1/events`` batch;
- ``MAX_ASSIGN_USERS`` users per ``POST /v1/assign/batch``;
- ``MAX_BODY_BYTES`` bytes per request body (413);
- event timestamps no later than ``MAX_FUTURE`` after the server's clock and no earlier
  than ``MIN_TS``; revenue, discount cost and event values finite and >= 0;
- ids (user, event, source) 1-256 printable characters; an event id may not start with
  ``DERIVED_PREFIX`` (``$``): that namespace holds the ids the platform derives (an order's
  ``discount_cost`` row is ``$discount_cost:<order id>``), so they cannot collide with a
  client's; at most ``MAX_ATTRIBUTES`` attributes per user, attribute names up to 64
  characters, string values up to 256.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from promolab.store import MAX_EVENT_FUTURE, MIN_EVENT_TS, check_event_ts

MAX_EVENTS = 10_000
MAX_ASSIGN_USERS = 1_000
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_ATTRIBUTES = 64
# one rule for every way in (the CLI's ingest and the registry use the same): promolab.store
MAX_FUTURE = MAX_EVENT_FUTURE
MIN_TS_NAIVE = MIN_EVENT_TS
MIN_TS = MIN_EVENT_TS.replace(tzinfo=timezone.utc)
MAX_VALUE = 1e12
# Bounds a time can have at all; they keep its conversion to UTC in range (year 1..9999).
# The bounds that depend on the clock (at most MAX_FUTURE after now) are checked per batch.
MAX_TS = datetime(9000, 1, 1, tzinfo=timezone.utc)
DERIVED_PREFIX = "$"

ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"
EVENT_ID_PATTERN = r"^[^\x00-\x1f\x7f$][^\x00-\x1f\x7f]*$"
KEY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
NAME_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
# What each pattern means, for error messages (pydantic's own message quotes the regex).
PATTERN_HELP = {
    ID_PATTERN: "printable characters (no control characters)",
    EVENT_ID_PATTERN: f"printable characters (no control characters), not starting with {DERIVED_PREFIX!r}: "
                      "that prefix is reserved for the ids the platform derives",
    KEY_PATTERN: "a lower-case key: letters a-z, digits, '-' and '_', starting with a letter or digit, "
                 "at most 64 characters",
    NAME_PATTERN: "1-64 characters out of A-Z a-z 0-9 _ . : -",
}


def derived_id(kind: str, event_id: str) -> str:
    """The id of a row the platform derives from a client event (``$discount_cost:o1``)."""
    return f"{DERIVED_PREFIX}{kind}:{event_id}"


Id = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=ID_PATTERN)]
EventId = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=EVENT_ID_PATTERN)]
ExperimentKey = Annotated[str, StringConstraints(pattern=KEY_PATTERN)]
AttrName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
AttrValue = Union[bool, int, float, Annotated[str, StringConstraints(max_length=256)], None]
Attributes = Annotated[dict[AttrName, AttrValue], Field(max_length=MAX_ATTRIBUTES)]
# Numbers and booleans are taken as the JSON types the schema documents (strict: no "12" or
# true for a number, no 1 or "yes" for a boolean).
Amount = Annotated[float, Field(ge=0, le=MAX_VALUE, allow_inf_nan=False, strict=True)]
Flag = Annotated[bool, Field(strict=True)]
Probability = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False, strict=True)]


def utc_naive(ts: datetime) -> datetime:
    """Aware → UTC; naive is taken as UTC; returned naive (as the registry stores it)."""
    return ts if ts.tzinfo is None else ts.astimezone(timezone.utc).replace(tzinfo=None)


check_ts = check_event_ts  # what is wrong with a (naive UTC) event time, or None


# The fixed bounds are checked by pydantic-core (in Rust, no Python per event); the clock
# bound once per batch in the route (cheaper than a validator per event).
Timestamp = Annotated[datetime, Field(ge=MIN_TS, le=MAX_TS)]
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
    track: Flag = Field(True, description=(
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
    track: Flag = True


class Assignment(BaseModel):
    experiment: str
    variant: str
    payload: dict[str, Any]
    paused: bool = Field(False, description=(
        "Present (true) when the experiment is paused: everyone gets its control and nothing is recorded; "
        "do not log an exposure for it."))


class AssignResponse(BaseModel):
    user_id: str
    assignments: list[Assignment]


class AssignBatchResponse(BaseModel):
    results: list[AssignResponse]


# -- events ---------------------------------------------------------------------------------


class _EventBase(BaseModel):
    model_config = STRICT
    event_id: EventId = Field(description=(
        "Client-chosen id; (source, event_id) is stored at most once. Ids starting with '$' are reserved "
        "for the rows the platform derives (an order's discount cost: '$discount_cost:<event_id>')."))
    user_id: Id
    ts: Timestamp | None = Field(None, description="When it happened (ISO 8601; naive = UTC); default: now.")


class ExposureEvent(_EventBase):
    """The user saw ``variant`` of ``experiment`` (only the first exposure per user is kept)."""

    type: Literal["exposure"]
    experiment: ExperimentKey
    variant: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    propensity: Probability | None = Field(None, description=(
        "The probability with which the assigning policy chose this variant for this user (the local-evaluation "
        "client sends it); stored with the first exposure for off-policy evaluation."))
    context: Attributes | None = Field(None, description=(
        "The user attributes a contextual policy chose the variant from (the local-evaluation client sends "
        "them); stored with the first exposure for model updates and off-policy evaluation."))


class ConversionEvent(_EventBase):
    """A named event (default ``conversion``) with a value (default 1)."""

    type: Literal["conversion"]
    name: Annotated[str, StringConstraints(pattern=NAME_PATTERN)] = "conversion"
    value: Amount = 1.0


class OrderEvent(_EventBase):
    """An order: stored as event ``order`` (value = revenue) and, when positive, event
    ``discount_cost`` (value = the promotion's cost) with id ``$discount_cost:{event_id}``."""

    type: Literal["order"]
    revenue: Amount
    discount_cost: Amount = 0.0


Event = Annotated[Union[ExposureEvent, ConversionEvent, OrderEvent], Field(discriminator="type")]


class EventBatch(BaseModel):
    model_config = STRICT
    source: Annotated[str, StringConstraints(pattern=NAME_PATTERN)] = Field(
        "api", description="Idempotency namespace: events are unique on (source, event_id).")
    events: Annotated[list[Event], Field(min_length=1, max_length=MAX_EVENTS)]


class IngestResponse(BaseModel):
    received: int = Field(description="Events in the batch.")
    inserted_events: int = Field(description="Event rows newly stored (an order with a discount is two rows).")
    inserted_exposures: int = Field(description="First exposures newly stored.")
    duplicates: int = Field(description="Event rows already stored with the same content (retries) or repeated "
                                        "in the batch.")
    conflicts: int = Field(0, description="Event rows whose (source, event_id) was already taken by a row with "
                                          "other content: the first stored row is kept, these are not stored.")


# -- experiments ----------------------------------------------------------------------------


class Change(BaseModel):
    model_config = STRICT
    reason: Annotated[str, StringConstraints(max_length=500)] = ""


class RampRequest(Change):
    traffic_percent: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False, strict=True)]


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
    status: Literal["running", "paused"] = Field(description=(
        "paused: serve the control to everyone and log no exposure."))
    weights: list[float] | None
    model: dict[str, Any] | None = Field(None, description="A contextual experiment's current model.")


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
