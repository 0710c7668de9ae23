"""A target policy given as data: for each logged row, a probability per action, (n, K).

As a file (CSV, CSV.gz or Parquet, e.g. scored by an uplift or contextual model), aligned
with the log: one row per logged row, in the log's order, and one column per action named
a prefix followed by the action's label as the log writes it (prefix ``p_``: columns
``p_none``, ``p_10% off``, ``p_free shipping``). Columns without the prefix are ignored, so
the log itself may carry them; an action without a column gets probability 0. Every value
must be a probability in [0, 1] and every row must sum to 1, both within ``TOLERANCE`` (for
rounded values; they are then clipped to [0, 1] and the row rescaled to sum to 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from promolab.errors import InputError
from promolab.sim.logged import _read_frame

TOLERANCE = 1e-6
DEFAULT_PREFIX = "p_"


def check_target(target: np.ndarray, rows: int, names: Sequence[str] | None = None, *,
                 source: str | None = None) -> np.ndarray:
    """``target`` as validated (rows, K) floats; a (K,) array is one distribution for every row.
    Values and row sums may be off by ``TOLERANCE`` (rounding): values are clipped to [0, 1],
    rows rescaled to sum to 1.

    Errors name the first bad row: a value outside [0, 1] as ``{names[k]}[row i]`` (default
    ``target.k``), a row not summing to 1 ± ``TOLERANCE`` as ``target[row i]``.
    """
    target = np.asarray(target, dtype=float)
    if target.ndim not in (1, 2) or target.shape[-1] < 1 or (target.ndim == 2 and target.shape[0] != rows):
        raise InputError("target", target.shape, f"({rows}, K) probabilities, one row per logged row, "
                         "or (K,) for every row", source=source)
    target = np.broadcast_to(target, (rows, target.shape[-1]))
    names = names or [f"target.{k}" for k in range(target.shape[1])]
    bad = np.argwhere(~((target >= -TOLERANCE) & (target <= 1 + TOLERANCE)))
    if bad.size:
        row, k = map(int, bad[0])
        raise InputError(f"{names[k]}[row {row}]", target[row, k], "a probability in [0, 1]", source=source)
    target = target.clip(0, 1)
    total = target.sum(axis=1)
    bad = np.flatnonzero(np.abs(total - 1) > TOLERANCE)
    if bad.size:
        row = int(bad[0])
        raise InputError(f"target[row {row}]", float(total[row]),
                         f"probabilities of {', '.join(names)} summing to 1 (± {TOLERANCE:g})", source=source)
    return target / total[:, None]


def target_from_frame(frame: pd.DataFrame, arms: Sequence[str], rows: int, prefix: str = DEFAULT_PREFIX,
                      source: str | None = None) -> np.ndarray:
    """The (rows, K) target in ``frame``'s ``{prefix}{action}`` columns, K = len(``arms``)."""
    by_name = {str(c): c for c in frame.columns}
    columns = [name for name in by_name if name.startswith(prefix)]
    if not columns:
        example = f"{prefix}{arms[0]}" if arms else f"{prefix}ACTION"
        raise InputError("target columns", list(by_name)[:20],
                         f"one column per action named {prefix!r} + the action, e.g. {example!r}", source=source)
    index = {arm: k for k, arm in enumerate(arms)}
    for column in columns:
        if column[len(prefix):] not in index:
            raise InputError("target column", column, f"{prefix!r} + an action of the log ({', '.join(arms)}); "
                             f"action {column[len(prefix):]!r} is not one", source=source)
    if len(frame) != rows:
        raise InputError("target rows", len(frame), f"{rows:,}: one row per logged row, in the log's order",
                         source=source)
    target = np.zeros((rows, len(arms)))
    for column in columns:
        raw = frame[by_name[column]]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise InputError(f"{column}[row {bad[0]}]", raw.iloc[bad[0]], "a probability in [0, 1]", source=source)
        target[:, index[column[len(prefix):]]] = values
    names = [f"{prefix}{arm}" for arm in arms]
    return check_target(target, rows, names, source=source)


def read_target(path: str | Path, arms: Sequence[str], rows: int, prefix: str = DEFAULT_PREFIX) -> np.ndarray:
    """Read and validate a target-policy file for a log with actions ``arms`` and ``rows`` rows."""
    path = Path(path)
    return target_from_frame(_read_frame(path), arms, rows, prefix, source=str(path))
