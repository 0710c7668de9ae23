"""``promolab assign`` and ``promolab ingest``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import duckdb
import typer

from promolab.analysis.table import open_table
from promolab.cli.app import app, console
from promolab.cli.options import DbOption, JsonOption, open_registry
from promolab.cli.output import Table, plain, print_json, say, status
from promolab.errors import InputError
from promolab.store import events_batch, exposures_batch

INGEST_KINDS = ("exposures", "events", "attributes")


def _read(path: Path, field: str):
    """Exactly the file named (never a glob), with at least one row; errors name ``field``."""
    con = duckdb.connect()
    try:
        return con.execute(f"SELECT * FROM {open_table(con, path, 'ingest_input', field=field)}").df()
    finally:
        con.close()


def _attributes(frame, source: str):
    """Refuse an attributes file at the door: a user_id column, at least one attribute
    column, and a user id on every row (row 1 = the first data row)."""
    if "user_id" not in frame.columns or len(frame.columns) < 2:
        raise InputError("columns", sorted(map(str, frame.columns)), "a user_id column plus one column per "
                         "attribute", source=source)
    import pandas as pd

    ids = frame["user_id"]
    blank = ids.isna() | (ids.astype(str).str.strip() == "")
    if blank.any():
        row = int(blank.to_numpy().nonzero()[0][0])
        value = ids.iloc[row]
        raise InputError(f"user_id (row {row + 1})", None if pd.isna(value) else value, "a non-empty user id",
                         source=source)
    return frame.assign(user_id=ids.astype(str))


@app.command()
def assign(
    key: Annotated[str, typer.Argument(help="Experiment key.")],
    users: Annotated[Optional[list[str]], typer.Argument(help="User ids.")] = None,
    file: Annotated[Optional[Path], typer.Option("--file", help="CSV/Parquet with a user_id column "
                                                               "(other columns are targeting attributes).")] = None,
    record: Annotated[bool, typer.Option("--record", help="Store the exposures in the registry.")] = False,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Which variant each user gets: deterministic, sticky (a user keeps their first variant),
    into the current weights (a bandit's latest); users outside the traffic get none.

    Example: promolab assign checkout-coupon u1 u2 u3 --record
    """
    import pandas as pd

    from promolab.adaptive import sticky_assign

    frame = _read(file, "--file") if file is not None else pd.DataFrame({"user_id": users or []})
    if "user_id" not in frame.columns:
        raise InputError("--file", str(file), "a table with a user_id column")
    if frame.empty:
        raise InputError("USERS", users, "at least one user id, or --file")
    attributes = {c: frame[c].to_numpy() for c in frame.columns if c != "user_id"}
    result = sticky_assign(open_registry(db), key, frame["user_id"].astype(str).tolist(), attributes or None,
                           record=record)
    rows = [{"user_id": u, "variant": v} for u, v in zip(result.user_ids, result.variants)]
    if json_:
        print_json(rows)
        return
    table = Table("user_id", "variant", text=("user_id", "variant"))
    for r in rows:
        table.add_row(plain(r["user_id"]), plain(r["variant"] or "(not in experiment)"))
    console.print(table)
    if record:
        say(f"{result.new:,} new exposures recorded")


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet file.")],
    kind: Annotated[str, typer.Option("--kind", metavar="exposures|events|attributes",
                                      help="exposures | events | attributes")],
    experiment: Annotated[Optional[str], typer.Option("--experiment", metavar="KEY",
                                                      help="Experiment key (exposures).")] = None,
    source: Annotated[Optional[str], typer.Option(
        "--source", metavar="NAME",
        help="Event source; event ids are unique per source (default: the file name).")] = None,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Load exposures (user_id, variant, ts), events (event_id, user_id, event, value, ts) or
    user attributes (user_id + columns). Idempotent; a bad file stores nothing.

    Example: promolab ingest events.csv --kind events
    """
    if kind not in INGEST_KINDS:
        raise InputError("--kind", kind, "one of " + ", ".join(INGEST_KINDS))
    with status(f"reading {file}", quiet=json_):
        frame = _read(file, "FILE")  # before the registry is opened: a bad file creates nothing
    reg = open_registry(db, must_exist=False)
    label = source or file.name
    with status(f"storing {len(frame):,} {kind}", quiet=json_):
        if kind == "exposures":
            if not experiment:
                raise InputError("--experiment", experiment, "the experiment the exposures belong to")
            result = reg.record_exposures(experiment, exposures_batch(frame, str(file)), source=label)
        elif kind == "events":
            result = reg.ingest_events(events_batch(frame, str(file)), source=label)
        else:
            stored = reg.set_attributes(_attributes(frame, str(file)))
            result = None
    if json_:
        print_json(result if result is not None else {"attributes": stored})
    elif result is not None:
        say(f"{kind}: {result.received:,} rows, {result.inserted:,} new, {result.duplicates:,} already stored"
            + (f", {result.conflicts:,} ids already stored with other content (the first kept)"
               if result.conflicts else ""))
    else:
        say(f"attributes: {stored:,} values stored")
