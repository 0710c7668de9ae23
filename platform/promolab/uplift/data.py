"""A randomised per-user table made ready for uplift learning: arms, φ(x), outcomes, propensities.

Arm 0 is the control; offers follow in sorted order. Propensities are the known
randomisation probabilities P(arm = a): given, or the arm shares n_a / n of a randomised
table (Hillstrom: about 1/3 each). Work is bounded: at most ``MAX_ROWS`` rows (a CSV is
read no further, a Parquet file's row count is read from its footer first),
``MAX_OFFERS`` offers, ``MAX_OUTCOMES`` outcomes and ``spec.features.MAX_FEATURES``
features.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from promolab.errors import InputError
from promolab.spec.encoding import encode, infer_features
from promolab.spec.features import FeatureSet

MAX_ROWS = 1_000_000
MAX_OFFERS = 20
MAX_OUTCOMES = 10


@dataclass(frozen=True, eq=False)
class UpliftData:
    """``arm[i]`` indexes ``arms`` (``arms[0]`` is the control); ``x`` is φ(x) with its
    intercept column; ``propensity[a]`` is P(arm = a) under the randomisation."""

    arms: tuple[str, ...]
    arm: np.ndarray
    features: FeatureSet
    x: np.ndarray
    outcomes: Mapping[str, np.ndarray]
    propensity: np.ndarray
    fingerprint: str

    @property
    def n(self) -> int:
        return int(self.arm.size)

    @property
    def control(self) -> str:
        return self.arms[0]

    @property
    def offers(self) -> tuple[str, ...]:
        return self.arms[1:]

    @property
    def counts(self) -> np.ndarray:
        return np.bincount(self.arm, minlength=len(self.arms))

    def subset(self, rows: np.ndarray) -> UpliftData:
        """The rows selected by the boolean mask ``rows`` (same arms, features and propensities)."""
        return UpliftData(self.arms, self.arm[rows], self.features, self.x[rows],
                          {name: y[rows] for name, y in self.outcomes.items()}, self.propensity, self.fingerprint)


def read_table(path: str | Path, max_rows: int | None = None) -> pd.DataFrame:
    """A CSV (.csv, .csv.gz, .tsv) or Parquet file with 1 to ``max_rows`` rows (default MAX_ROWS)."""
    limit = MAX_ROWS if max_rows is None else max_rows
    path = Path(path)
    if not path.is_file():
        raise InputError("table", str(path), "an existing CSV or Parquet file")
    name = path.name.lower()
    parquet = name.endswith((".parquet", ".pq"))
    if not (parquet or name.endswith((".csv", ".csv.gz", ".tsv"))):
        raise InputError("table", str(path), "a file ending in .csv, .csv.gz, .tsv or .parquet")
    try:
        if parquet:
            rows = pq.ParquetFile(path).metadata.num_rows
            frame = pd.read_parquet(path) if rows <= limit else None
        else:
            frame = pd.read_csv(path, nrows=limit + 1, sep="\t" if name.endswith(".tsv") else ",")
            rows = len(frame)
    except (OSError, ValueError) as exc:  # pandas' and pyarrow's parse errors are ValueErrors
        raise InputError("table", str(path), f"a readable CSV or Parquet file ({str(exc).splitlines()[0]})") from exc
    if rows > limit:
        raise InputError("table", f"more than {limit:,} rows", f"at most {limit:,} rows (sample the table first)")
    if frame is None or frame.empty:
        raise InputError("table", str(path), "a table with a header row and at least one row")
    return frame


def _column(frame: pd.DataFrame, column: str, field: str) -> pd.Series:
    if column not in frame.columns:
        raise InputError(field, column, "a column of the table: " + ", ".join(map(str, frame.columns)))
    return frame[column]


def _outcome(frame: pd.DataFrame, column: str, field: str = "outcome") -> np.ndarray:
    series = _column(frame, column, field)
    if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
        raise InputError(f"{field} {column}", str(series.dtype), "a numeric column")
    y = series.to_numpy(dtype=float, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        row = int(bad[0])
        value = series.iloc[row]
        raise InputError(f"{field} {column}[row {row}]", None if pd.isna(value) else value, "a finite number")
    return y


def _encode(frame: pd.DataFrame, names: Sequence[str]) -> tuple[FeatureSet, np.ndarray]:
    """φ(x) of every row; an encoding error's field ``context.NAME`` reads ``features NAME``."""
    try:
        features = infer_features(frame, names)
        return features, encode(features, frame)
    except InputError as exc:
        field = exc.field.replace("context.", "features ", 1) if exc.field.startswith("context.") else exc.field
        raise InputError(field, exc.value, exc.expected) from None


def _propensity(arms: tuple[str, ...], counts: np.ndarray, given: Mapping[str, float] | None) -> np.ndarray:
    if given is None:
        return counts / counts.sum()
    for key, value in given.items():
        if key not in arms:
            raise InputError("propensity", key, "an arm of the table: " + ", ".join(arms))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value) and 0 < value <= 1):
            raise InputError(f"propensity {key}", value, "a probability in (0, 1]")
    missing = [a for a in arms if a not in given]
    if missing:
        raise InputError("propensity", missing[0], "a probability for every arm: " + ", ".join(arms))
    p = np.array([float(given[a]) for a in arms])
    if abs(p.sum() - 1.0) > 1e-6:
        raise InputError("propensity", round(float(p.sum()), 9), "probabilities summing to 1 over the arms")
    return p


def fingerprint(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    """sha256 of the used columns' names and values (the same for a CSV and a Parquet copy)."""
    digest = hashlib.sha256("\x1f".join(columns).encode())
    digest.update(pd.util.hash_pandas_object(frame[list(columns)], index=False).to_numpy().tobytes())
    return "sha256:" + digest.hexdigest()


def uplift_data(frame: pd.DataFrame, treatment: str, control: str, outcomes: Sequence[str],
                features: Sequence[str], propensity: Mapping[str, float] | None = None,
                max_rows: int | None = None, extra: Sequence[str] = ()) -> UpliftData:
    """Validate and encode ``frame``; errors name the field (treatment, control, outcome COL,
    features, propensity, economics column). ``extra``: numeric columns the reward needs (revenue, orders)."""
    limit = MAX_ROWS if max_rows is None else max_rows
    if not 1 <= len(frame) <= limit:
        raise InputError("table", f"{len(frame):,} rows", f"1 to {limit:,} rows")
    labels = _column(frame, treatment, "treatment")
    if labels.isna().any():
        row = int(np.flatnonzero(labels.isna().to_numpy())[0])
        raise InputError(f"treatment[row {row}]", None, "an arm label in every row")
    labels = labels.astype(str)
    values = sorted(labels.unique())
    if control not in values:
        raise InputError("control", control, f"a value of column {treatment}: " + ", ".join(values[:20]))
    if len(values) < 2:
        raise InputError("treatment", treatment, f"at least two arms (a control and an offer); it holds only {control}")
    if len(values) > MAX_OFFERS + 1:
        raise InputError("treatment", f"{len(values)} arms", f"a control and at most {MAX_OFFERS} offers")
    arms = (control, *[v for v in values if v != control])
    outcome_names = list(dict.fromkeys(outcomes))
    if not 1 <= len(outcome_names) <= MAX_OUTCOMES:
        raise InputError("outcome", len(outcome_names), f"1 to {MAX_OUTCOMES} outcome columns")
    y = {name: _outcome(frame, name) for name in outcome_names}
    y.update({name: _outcome(frame, name, "economics column") for name in extra if name not in y})
    feature_names = list(dict.fromkeys(features))
    for name in feature_names:
        _column(frame, name, "features")
        if name == treatment or name in y:
            raise InputError("features", name, "a pre-treatment attribute (not the treatment or an outcome column)")
    feature_set, x = _encode(frame, feature_names)
    arm = pd.Categorical(labels, categories=arms).codes.astype(np.int64)
    counts = np.bincount(arm, minlength=len(arms))
    return UpliftData(arms, arm, feature_set, x, y, _propensity(arms, counts, propensity),
                      fingerprint(frame, [treatment, *y, *feature_names]))
