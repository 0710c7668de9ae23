"""Logged bandit feedback (context, action, reward, propensity) read from CSV or Parquet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from promolab.errors import InputError
from promolab.sim.scenario import MAX_ARMS


def check_propensity(propensity: np.ndarray, field: str = "propensity", source: str | None = None) -> np.ndarray:
    """Logging probabilities must lie in (0, 1]; the error names the first bad row."""
    propensity = np.asarray(propensity, dtype=float)
    bad = np.flatnonzero(~((propensity > 0) & (propensity <= 1)))
    if bad.size:
        row = int(bad[0])
        raise InputError(f"{field}[row {row}]", float(propensity[row]), "a logging probability in (0, 1]",
                         source=source)
    return propensity


@dataclass(frozen=True, eq=False)
class LoggedData:
    """Rows in logging order; ``action`` indexes ``arms``; ``context``: the log's other columns
(None when the rows came without them)."""

    source: str
    arms: tuple[str, ...]
    action: np.ndarray
    reward: np.ndarray
    propensity: np.ndarray
    context: pd.DataFrame | None = None

    @property
    def n(self) -> int:
        return self.action.size

    @property
    def uniform_logging(self) -> bool:
        """Whether every row was logged with probability 1/K (what the replay method assumes)."""
        return bool(np.allclose(self.propensity, 1 / len(self.arms), rtol=1e-3))


def _read_frame(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    if not path.exists():
        raise InputError("file", str(path), "an existing CSV or Parquet file")
    if name.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    if name.endswith((".csv", ".csv.gz")):
        return pd.read_csv(path)
    raise InputError("file", str(path), "a .csv, .csv.gz or .parquet file")


def read_log(
    path: str | Path,
    *,
    action_col: str = "action",
    reward_col: str = "reward",
    propensity_col: str = "propensity",
    uniform: bool = False,
) -> LoggedData:
    """Read and validate a log. ``uniform=True`` declares a uniformly randomised log
    (propensity 1/K, e.g. an A/B/n test) instead of reading ``propensity_col``."""
    path = Path(path)
    frame = _read_frame(path)
    source = str(path)
    wanted = {"--action-col": action_col, "--reward-col": reward_col}
    if not uniform:
        wanted["--propensity-col"] = propensity_col
    for field, column in wanted.items():
        if column not in frame.columns:
            need = " (IPS, SNIPS and DR need logging probabilities; --uniform if assignment was uniform)"
            need = need if field == "--propensity-col" else ""
            raise InputError(field, column, f"a column of the log: {', '.join(map(str, frame.columns))}{need}",
                             source=source)
    if frame.empty:
        raise InputError("rows", 0, "at least one logged row", source=source)
    reward = pd.to_numeric(frame[reward_col], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(reward))
    if bad.size:
        row = int(bad[0])
        raise InputError(f"{reward_col}[row {row}]", frame[reward_col].iloc[row], "a number", source=source)
    codes, labels = pd.factorize(frame[action_col], sort=True)
    if np.any(codes < 0):
        row = int(np.flatnonzero(codes < 0)[0])
        raise InputError(f"{action_col}[row {row}]", None, "an action label", source=source)
    if len(labels) < 2:
        raise InputError(action_col, list(map(str, labels)), "at least 2 distinct actions", source=source)
    if len(labels) > MAX_ARMS:  # replay holds rows × actions probabilities; actions are offers, not ids
        raise InputError(action_col, len(labels), f"at most {MAX_ARMS} distinct actions (arms)", source=source)
    if uniform:
        propensity = np.full(codes.size, 1.0 / len(labels))
    else:
        raw = pd.to_numeric(frame[propensity_col], errors="coerce").to_numpy(dtype=float)
        propensity = check_propensity(raw, propensity_col, source)
    used = {action_col, reward_col} | (set() if uniform else {propensity_col})
    context = frame[[c for c in frame.columns if c not in used]].reset_index(drop=True)
    return LoggedData(source, tuple(map(str, labels)), codes.astype(int), reward, propensity, context)
