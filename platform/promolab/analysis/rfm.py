"""Customer segmentation from behaviour: RFM-style features → k-means (scikit-learn).

Features: numeric columns (log1p where asked, for skewed money amounts), binary columns
as they are, categorical columns one-hot; all standardised (z-scores) so no unit
dominates. k-means (k-means++, ``n_init`` restarts) is fitted for every k in
``k_range`` and the k with the highest mean silhouette coefficient wins (Rousseeuw 1987;
computed on a seeded sample of at most ``sample`` users; k-means fitted on at most
``fit_sample`` users, everyone assigned to the nearest centre). Clusters are numbered 1..k by
ascending mean of the first numeric feature (e.g. recency) so labels are stable across
runs. The label is stored as a user attribute (default ``rfm_cluster``) usable in
targeting (``attribute = "rfm_cluster"``), drill-down (``--segment rfm_cluster``) and
per-segment bandits.

``rfm_features`` builds recency / frequency / monetary from a registry's order events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

from promolab.analysis.sql import literal
from promolab.errors import InputError

CRITERION = "silhouette"

# Bounds on the work of a segmentation (measured on 2 cores with 50,000 users, 3 features):
# one k-means fit per k in the range, each ∝ k × fit_sample × n_init, and one silhouette per k,
# ∝ sample². k from 2 to 30 takes ≈ 8 s; customer segmentations use 3–12 clusters.
MAX_CLUSTERS = 30
MAX_SILHOUETTE_SAMPLE = 10_000   # 10⁸ distances per k (≈ 0.6 s); the default 5,000 already pins the score
MAX_FIT_SAMPLE = 1_000_000       # k-means is linear in it; beyond, a sample fits the same centres
MAX_N_INIT = 20                  # k-means++ restarts; scikit-learn's default is 1 to 10
MAX_SEED = 2**32 - 1             # scikit-learn's random_state range


def check_k_range(k_min: object, k_max: object, fields: tuple[str, str] = ("--k-min", "--k-max")) -> range:
    """The k to try, ``range(k_min, k_max + 1)``, with 2 <= k_min <= k_max <= MAX_CLUSTERS."""
    lo = _bounded_int(fields[0], k_min, 2, MAX_CLUSTERS)
    hi = _bounded_int(fields[1], k_max, lo, MAX_CLUSTERS)
    return range(lo, hi + 1)


def _bounded_int(field: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise InputError(field, value, f"an integer in [{low}, {high}]")
    return int(value)


@dataclass(frozen=True)
class Segmentation:
    k: int
    labels: np.ndarray  # 1..k per row of the input
    scores: dict[int, float]  # silhouette per k tried
    profile: pd.DataFrame  # per cluster: users and the mean of each feature (original units)
    features: tuple[str, ...]
    criterion: str = CRITERION

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "criterion": f"highest mean {self.criterion} coefficient",
                "scores": {str(k): v for k, v in self.scores.items()}, "features": list(self.features),
                "profile": self.profile.reset_index().to_dict("records")}


def design_matrix(frame: pd.DataFrame, columns: Sequence[str], log: Sequence[str] = ()) -> pd.DataFrame:
    """Numeric (log1p for ``log``) and one-hot categorical columns, before scaling."""
    parts = []
    for col in columns:
        if col not in frame.columns:
            raise InputError("--feature", col, f"a column of the data ({', '.join(map(str, frame.columns))})")
        values = frame[col]
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().all():
            parts.append(pd.Series(np.log1p(np.maximum(numeric, 0)) if col in log else numeric, name=col,
                                   dtype=float))
        else:
            parts.append(pd.get_dummies(values.astype(str), prefix=col, dtype=float))
    return pd.concat(parts, axis=1)


def segment_users(frame: pd.DataFrame, columns: Sequence[str], log: Sequence[str] = (),
                  k_range: Sequence[int] = range(2, 9), seed: int = 0, sample: int = 5000,
                  n_init: int = 4, fit_sample: int = 20_000) -> Segmentation:
    """Choose k by silhouette over ``k_range`` and label every row 1..k.

    k-means is fitted on a seeded sample of at most ``fit_sample`` users and every user is
    assigned to the nearest centre; the silhouette uses a sample of at most ``sample``.
    """
    if not isinstance(k_range, (range, list, tuple, np.ndarray)) or not 1 <= len(k_range) <= MAX_CLUSTERS - 1:
        raise InputError("k_range", k_range, f"between 1 and {MAX_CLUSTERS - 1} values of k")
    for k in k_range:
        _bounded_int("k_range", k, 2, MAX_CLUSTERS)
    k_range = sorted(set(int(k) for k in k_range))
    seed = _bounded_int("seed", seed, 0, MAX_SEED)
    sample = _bounded_int("sample", sample, 2, MAX_SILHOUETTE_SAMPLE)
    fit_sample = _bounded_int("fit_sample", fit_sample, 1, MAX_FIT_SAMPLE)
    n_init = _bounded_int("n_init", n_init, 1, MAX_N_INIT)
    x_raw = design_matrix(frame, columns, log)
    if len(x_raw) <= k_range[-1]:
        raise InputError("users", len(x_raw), f"more users than clusters (k up to {k_range[-1]})")
    x = StandardScaler().fit_transform(x_raw.to_numpy())
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(x), size=min(sample, len(x)), replace=False)
    fit_rows = rng.choice(len(x), size=min(fit_sample, len(x)), replace=False)
    scores, fits = {}, {}
    for k in k_range:
        model = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(x[fit_rows])
        labels = model.predict(x)
        if len(np.unique(labels[idx])) < 2:
            scores[k] = float("nan")
            continue
        scores[k] = float(silhouette_score(x[idx], labels[idx]))
        fits[k] = labels
    best = max(fits, key=lambda k: scores[k])
    raw = fits[best]
    first = x_raw.columns[0]
    order = pd.Series(x_raw[first].to_numpy()).groupby(raw).mean().sort_values().index
    relabel = {old: new for new, old in enumerate(order, start=1)}
    labels = np.vectorize(relabel.get)(raw)
    shown = frame[list(columns)].copy()
    for col in columns:
        if not pd.api.types.is_numeric_dtype(shown[col]):
            shown = pd.concat([shown.drop(columns=col), pd.get_dummies(shown[col].astype(str), prefix=col,
                                                                       dtype=float)], axis=1)
    profile = shown.groupby(labels).mean()
    profile.insert(0, "users", pd.Series(labels).value_counts().sort_index())
    profile.index.name = "cluster"
    return Segmentation(best, labels, scores, profile, tuple(x_raw.columns))


def rfm_sql(event: str = "order", as_of: str | None = None) -> str:
    """Per user: recency (days from the last ``event`` to ``as_of``), frequency, monetary."""
    until = f" AND ts < CAST({literal(as_of)} AS TIMESTAMP)" if as_of else ""
    ref = f"CAST({literal(as_of)} AS TIMESTAMP)" if as_of else f"(SELECT MAX(ts) FROM events WHERE event = {literal(event)})"
    return (f"SELECT user_id, date_diff('day', MAX(ts), {ref}) AS recency, COUNT(*) AS frequency, "
            f"COALESCE(SUM(value), 0) AS monetary FROM events WHERE event = {literal(event)}{until} GROUP BY user_id")


def attribute_frame(registry: Any, attributes: Sequence[str]) -> pd.DataFrame:
    """Wide frame (user_id + one column per attribute) from the registry's user attributes."""
    names = ", ".join(literal(a) for a in attributes)
    cols = ", ".join(f"MAX(CASE WHEN attribute = {literal(a)} THEN COALESCE(value_text, CAST(value_num AS VARCHAR)) END) "
                     f"AS \"{a}\"" for a in attributes)
    frame = registry.query(f"SELECT user_id, {cols} FROM user_attributes WHERE attribute IN ({names}) "
                           "GROUP BY user_id ORDER BY user_id")
    missing = [a for a in attributes if frame.empty or frame[a].isna().all()]
    if missing:
        raise InputError("--feature", missing[0], "a user attribute present in the registry")
    frame = frame.dropna()
    for a in attributes:
        numeric = pd.to_numeric(frame[a], errors="coerce")
        if numeric.notna().all():
            frame[a] = numeric
    return frame
