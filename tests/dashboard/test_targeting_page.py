"""The Targeting page under Streamlit's AppTest: a contextual experiment's policy vs holdout and
allocation by segment, an A/B test's uplift models and targeting policy (the numbers equal the
library's for the same call), and plain-words empty states for what it cannot analyse."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from promolab.analysis import analyze_experiment
from promolab.analysis.allocation import segment_allocation
from promolab.errors import InputError
from promolab.store import Registry
from promolab.uplift.experiment import experiment_uplift

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
PAGE = "app_pages/targeting.py"
AB, CONTEXTUAL, BANDIT = "hillstrom-email", "hillstrom-targeted", "coupon-bandit"
TIMEOUT = 120

pytestmark = pytest.mark.xdist_group("targeting")  # one worker: the uplift fit is cached across tests


@pytest.fixture
def page(dashboard_db: Path, monkeypatch: pytest.MonkeyPatch):
    """``page(experiment=None, db=None)``: the Targeting page on the test registry (or ``db``)."""
    monkeypatch.setattr(sys, "argv", ["app.py"])

    def open_page(experiment: str | None = None, db: Path | None = None) -> AppTest:
        monkeypatch.setenv("PROMOLAB_DB", str(db or dashboard_db))
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        if experiment:
            at.query_params["experiment"] = experiment
        at.run()
        at.switch_page(PAGE).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return open_page


@pytest.fixture(scope="module")
def registry(dashboard_db: Path) -> Registry:
    return Registry.open(dashboard_db)


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def chart(at: AppTest, title: str) -> dict:
    """The plotly figure whose title (or a panel's title) contains ``title``."""
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return next(s for s in specs if title in s["layout"].get("title", {}).get("text", "")
                or any(title in a.get("text", "") for a in s["layout"].get("annotations", [])))


def frame_with(at: AppTest, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def run(target) -> AppTest:
    """Run the app (or the app of a changed widget) and check it raised nothing."""
    at = target.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_contextual_experiment_is_the_default_and_shows_policy_vs_holdout(page, registry):
    at = page()
    assert at.selectbox(key="pick-targeting").value == CONTEXTUAL
    report = analyze_experiment(registry, CONTEXTUAL)
    readout, lift = report.contextual, report.contextual.policy_vs_holdout
    assert metric(at, "Policy users") == f"{readout.policy_users:,}"
    assert metric(at, "Holdout users") == f"{readout.holdout_users:,}"
    assert metric(at, "Mean: policy / holdout") == f"{lift.treatment_mean:,.4g} / {lift.control_mean:,.4g}"
    shown = next(m for m in at.metric if m.label == "Policy − holdout")
    assert shown.value == f"{lift.absolute:+,.4g}"
    assert f"CI {lift.abs_ci_low:+,.4g} to {lift.abs_ci_high:+,.4g}" in texts(at.caption)
    assert report.verdict.text in texts(at.info) + texts(at.success) + texts(at.warning) + texts(at.error)
    snips = chart(at, "had everyone got the variant")
    means = {t["y"][0]: t["x"][0] for t in snips["data"] if t.get("mode") == "markers"}
    names = {k: registry.get_experiment(CONTEXTUAL).variant(k).name for k in readout.variants}
    assert means == pytest.approx({names[k]: m.value for k, m in readout.variants.items() if m is not None})


def test_allocation_by_segment_follows_feature_and_period(page, registry):
    at = page(CONTEXTUAL)
    features = registry.get_experiment(CONTEXTUAL).contextual.features.names
    assert at.selectbox(key="targeting-feature").options == list(features)
    first = chart(at, f"Allocation by {features[0]}")
    expected = segment_allocation(registry, CONTEXTUAL, features[0], "day")
    assert {a["text"] for a in first["layout"]["annotations"]} == {f"<b>{features[0]} = {s}</b>"
                                                                   for s in expected.segments}
    bars = sum(len(t["x"]) for t in first["data"] if t["type"] == "bar")
    assert bars == len(expected.cells)

    run(at.selectbox(key="targeting-feature").select("channel"))
    run(at.radio(key="targeting-period").set_value("hour"))
    hourly = segment_allocation(registry, CONTEXTUAL, "channel", "hour")
    fig = chart(at, "Allocation by channel")
    assert sum(len(t["x"]) for t in fig["data"] if t["type"] == "bar") == len(hourly.cells)
    assert {a["text"] for a in fig["layout"]["annotations"]} == {f"<b>channel = {s}</b>" for s in hourly.segments}


def test_ab_experiment_shows_the_library_uplift_report(page, registry):
    at = page(AB)
    assert at.multiselect(key="targeting-learners").value == ["x"]
    assert at.selectbox(key="targeting-model").value == "ridge"
    expected = experiment_uplift(registry, AB, model="ridge", learners=("x",))
    spec = registry.get_experiment(AB)
    names = {k: spec.variant(k).name for k in spec.variant_keys}

    outcome = at.selectbox(key="targeting-outcome").value
    qini = frame_with(at, "Qini coefficient")
    evaluations = [e for e in expected.evaluations if e.outcome == outcome]
    assert list(qini["offer"]) == [names[e.offer] for e in evaluations]
    assert list(qini["Qini coefficient"]) == pytest.approx([e.qini_coefficient for e in evaluations])
    assert list(qini["AUUC"]) == pytest.approx([e.auuc for e in evaluations])
    curves = chart(at, "Qini curves")
    legend = [t["name"] for t in curves["data"]]
    for e in evaluations:
        assert f"{names[e.offer]} · X-learner (Qini {e.qini_coefficient:.3f})" in legend
    chart(at, "Uplift by decile")

    policies = frame_with(at, "ESS")
    control = expected.arms[0]
    blanket = [f"no one ({names[control]})"] + [f"everyone: {names[a]}" for a in expected.arms[1:]]
    assert list(policies["policy"])[-len(blanket):] == blanket
    assert list(policies["value (DR)"]) == pytest.approx([p.dr.value for p in expected.targeting.policies])
    assert list(policies["ESS"]) == pytest.approx([p.weights.ess for p in expected.targeting.policies])
    chart(at, "Value per user")
    shares = expected.targeting.policy(expected.targeting.best_blanket).share
    best = max(shares, key=shares.get)
    baseline = "sending no offer" if best == control else f"sending everyone {names[best]}"
    sentences = texts(at.markdown)
    for lift in expected.targeting.lifts:
        assert f"{baseline} (**{lift.policy}**): {lift.dr.value:+,.4g} per user" in sentences
    labels = dict(zip([p.policy for p in expected.targeting.policies], list(policies["policy"])))
    for note in expected.notes:  # the library's notes, its policy names replaced by the page's labels
        for policy in sorted(labels, key=len, reverse=True):
            note = note.replace(policy, labels[policy])
        assert note in texts(at.caption)


def test_ab_controls_refit_with_the_chosen_learners_and_budget(page, registry):
    at = page(AB)
    at.multiselect(key="targeting-learners").select("t")
    at.select_slider(key="targeting-share").set_value(0.3)
    run(at)
    qini = frame_with(at, "Qini coefficient")
    assert set(qini["learner"]) == {"X-learner", "T-learner"}
    policies = list(frame_with(at, "ESS")["policy"])
    assert policies[0] == "targeted: X-learner, top 30%"
    assert "--learner x --learner t --share 0.3" in texts(at.caption)
    before = chart(at, "Qini curves")
    run(at.selectbox(key="targeting-outcome").select("spend"))
    assert chart(at, "Qini curves · Spend") != before
    run(at.multiselect(key="targeting-learners").unselect("x").unselect("t"))
    assert "Pick at least one learner" in texts(at.info)


def test_a_bandit_is_explained_in_words(page):
    at = page(BANDIT)
    assert at.selectbox(key="pick-targeting").value == BANDIT
    assert "is a bandit" in texts(at.info)
    assert not at.get("plotly_chart")


def test_an_id_like_attribute_is_not_a_default_feature(page, registry):
    """checkout-coupon stores a device id per user: the models leave it out and learn from the rest."""
    report = experiment_uplift(registry, "checkout-coupon", model="ridge")
    assert "device_id" not in report.policy.features.names
    at = page("checkout-coupon")
    assert not at.exception and at.get("plotly_chart")


@pytest.mark.parametrize("key", ["broken-split"])
def test_library_input_errors_are_warnings(page, registry, key):
    """broken-split fails its SRM check and stores no attributes."""
    with pytest.raises(InputError) as refused:
        experiment_uplift(registry, key, model="ridge")
    at = page(key)
    assert at.selectbox(key="pick-targeting").value == key
    assert str(refused.value) in texts(at.warning)
    assert not at.get("plotly_chart")


def test_empty_registry(page, tmp_path):
    db = tmp_path / "empty.duckdb"
    Registry.open(db)
    at = page(db=db)
    assert "No experiment in this registry" in texts(at.info)
