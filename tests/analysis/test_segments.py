"""Segment drill-down (adjusted across segments, small-segment warnings) and k-means
customer segmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score
from statsmodels.stats.multitest import multipletests

from promolab.analysis import analyze_table
from promolab.analysis.rfm import segment_users


def test_hillstrom_drilldown_adjusts_across_segments(hillstrom_csv: Path) -> None:
    report = analyze_table(hillstrom_csv, "segment", "No E-Mail", ["visit:binomial", "spend:mean"],
                           segments=["zip_code", "history_segment"])
    for drill in report.segments:
        raw, adj = [], []
        for s in drill.segments:
            for m in s.metrics:
                for v in m.variants:
                    if v.lift is not None:
                        raw.append(v.lift.p_value)
                        adj.append(v.lift.p_value_adjusted)
        assert drill.family_size == len(raw)
        np.testing.assert_allclose(adj, multipletests(raw, method="holm")[1], rtol=1e-12)
    history = report.segments[1]
    assert len(history.segments) == 7
    small = [s.value for s in history.segments if s.small]
    assert small == ["7) $1,000 +"] and any("small segment" in w for w in history.warnings)
    zips = {s.value: s.n for s in report.segments[0].segments}
    assert set(zips) == {"Rural", "Surburban", "Urban"}
    assert sum(sum(n.values()) for n in zips.values()) == 64_000
    assert report.to_dict()["segments"][0]["column"] == "zip_code"


def test_bh_correction_across_segments(hillstrom_csv: Path) -> None:
    report = analyze_table(hillstrom_csv, "segment", "No E-Mail", ["conversion:binomial"], correction="bh",
                           segments=["channel"])
    d = report.segments[0]
    raw = [v.lift.p_value for s in d.segments for v in s.metrics[0].variants if v.lift]
    adj = [v.lift.p_value_adjusted for s in d.segments for v in s.metrics[0].variants if v.lift]
    np.testing.assert_allclose(adj, multipletests(raw, method="fdr_bh")[1], rtol=1e-12)


def test_kmeans_recovers_known_clusters() -> None:
    rng = np.random.default_rng(5)
    centres = [(2, 50, 1), (10, 400, 6), (6, 1500, 15)]
    parts = [pd.DataFrame({"recency": rng.normal(r, 0.7, 300), "monetary": rng.normal(m, m * 0.08, 300),
                           "frequency": rng.normal(f, 0.6, 300), "truth": i}) for i, (r, m, f) in enumerate(centres)]
    frame = pd.concat(parts, ignore_index=True)
    seg = segment_users(frame, ["recency", "monetary", "frequency"], k_range=range(2, 7), seed=1)
    assert seg.k == 3 and max(seg.scores, key=seg.scores.get) == 3
    assert adjusted_rand_score(frame["truth"], seg.labels) == pytest.approx(1.0)
    # clusters numbered by ascending recency (the first feature)
    assert list(seg.profile["recency"]) == sorted(seg.profile["recency"])


def test_hillstrom_segmentation_is_stored_and_usable(tmp_path: Path, hillstrom: pd.DataFrame) -> None:
    sample = hillstrom.sample(4000, random_state=0).reset_index(drop=True)
    seg = segment_users(sample, ["recency", "history", "channel", "newbie"], log=["history"],
                        k_range=range(2, 6), seed=0)
    assert 2 <= seg.k <= 5 and len(seg.labels) == 4000 and set(seg.labels) == set(range(1, seg.k + 1))
    sample["rfm_cluster"] = seg.labels
    path = tmp_path / "h.csv"
    sample.to_csv(path, index=False)
    report = analyze_table(path, "segment", "No E-Mail", ["visit:binomial"], segments=["rfm_cluster"])
    assert {s.value for s in report.segments[0].segments} == {str(k) for k in range(1, seg.k + 1)}
