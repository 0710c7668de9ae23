"""The deployable policy file: round trips, per-user evaluation, one-hot probabilities with an
exploration floor, and a parser that refuses anything else naming the field (property tests)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from uplift_synthetic import FEATURES, synthetic

from promolab.errors import InputError
from promolab.jsonable import to_plain
from promolab.uplift.policy_file import TargetingPolicy, load_policy, policy_from_dict
from promolab.uplift.report import analyze_uplift

PROPERTY = settings(max_examples=150, deadline=None, database=None)  # database=None: no .hypothesis/ folder


@pytest.fixture(scope="module")
def frame():
    return synthetic(1500, seed=31)


@pytest.fixture(scope="module")
def policy(frame) -> TargetingPolicy:
    return analyze_uplift(frame, treatment="arm", control="control", outcomes=["y"], features=FEATURES,
                          model="ridge", folds=3).policy


def test_save_and_load_round_trip(policy, frame, tmp_path):
    path = tmp_path / "policy.json"
    policy.save(path)
    loaded = load_policy(path)
    assert loaded.to_dict() == to_plain(policy.to_dict())
    assert loaded.actions == ("control", "A", "B") and loaded.weights.shape == (2, policy.features.dim)
    np.testing.assert_array_equal(loaded.choose(frame), policy.choose(frame))
    assert loaded.source["rows"] == 1500 and loaded.source["fingerprint"].startswith("sha256:")
    assert loaded.value["policy"].estimator == "dr"
    assert [p.name for p in tmp_path.iterdir()] == ["policy.json"]  # no temp file left behind


def test_per_user_decisions_match_the_table_and_probabilities_are_one_hot(policy, frame):
    chosen = policy.choose(frame)
    rows = frame[FEATURES].head(50).to_dict("records")
    assert [policy.action_for(r) for r in rows] == [policy.actions[a] for a in chosen[:50]]
    p = policy.probabilities(frame)
    assert p.shape == (1500, 3) and set(np.unique(p)) <= {0.0, 1.0}
    np.testing.assert_array_equal(p.argmax(axis=1), chosen)
    explore = policy.probabilities(frame, floor=0.05)
    np.testing.assert_allclose(explore.sum(axis=1), 1.0)
    assert explore.min() == pytest.approx(0.05) and explore.max() == pytest.approx(0.9)
    for floor in (-0.1, 0.4, float("nan"), True):
        with pytest.raises(InputError, match="floor"):
            policy.probabilities(frame, floor=floor)
    with pytest.raises(InputError, match="context.x1"):
        policy.action_for({"x2": 1, "region": "north"})
    with pytest.raises(InputError, match="context.region"):
        policy.action_for({"x1": 0.1, "x2": 1, "region": "east"})


@pytest.mark.parametrize("edit, field", [
    (lambda d: d.update(extra=1), "policy.extra"),
    (lambda d: d.pop("weights"), "policy.weights"),
    (lambda d: d.update(format="other"), "policy.format"),
    (lambda d: d.update(version=2), "policy.version"),
    (lambda d: d["weights"].pop(), "policy.weights"),
    (lambda d: d["weights"][1].pop(), "policy.weights[1]"),
    (lambda d: d["weights"][0].__setitem__(2, "x"), "policy.weights[0][2]"),
    (lambda d: d["weights"][0].__setitem__(2, float("inf")), "policy.weights[0][2]"),
    (lambda d: d.update(actions=["control", "control", "B"]), "policy.actions"),
    (lambda d: d.update(columns=d["columns"][::-1]), "policy.columns"),
    (lambda d: d["features"][0].update(kind="text"), "policy.features.x1.kind"),
    (lambda d: d["features"][0].update(unit="$"), "policy.features[0].unit"),
    (lambda d: d.update(threshold=-1), "policy.threshold"),
    (lambda d: d["value"]["policy"].pop("se"), "policy.value.policy.se"),
    (lambda d: d["value"]["policy"].update(n=-3), "policy.value.policy.n"),
    (lambda d: d["source"].update(rows="many"), "policy.source.rows"),
    (lambda d: d["source"].update(owner="me"), "policy.source.owner"),
])
def test_wrong_fields_and_shapes_are_refused_naming_the_field(policy, edit, field):
    doc = to_plain(policy.to_dict())
    edit(doc)
    with pytest.raises(InputError) as err:
        policy_from_dict(doc)
    assert err.value.field == field


def test_loading_a_policy_imports_no_scikit_learn():
    """The service evaluates the policy file with numpy alone: no model pickles, no sklearn."""
    code = "import sys\nfrom promolab.uplift import load_policy\nprint('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


def test_load_policy_names_the_file(tmp_path):
    bad = tmp_path / "p.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="policy: got .*expected a JSON document"):
        load_policy(bad)
    bad.write_text(json.dumps({"format": "promolab-targeting-policy"}))
    with pytest.raises(InputError) as err:
        load_policy(bad)
    assert err.value.source == str(bad) and err.value.field == "policy.version"
    with pytest.raises(InputError, match="expected an existing policy file"):
        load_policy(tmp_path / "missing.json")


# --------------------------------------------------------------------------- properties

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8)
finite = st.floats(-1e6, 1e6, allow_nan=False)


@st.composite
def policy_docs(draw) -> dict:
    """Valid policy documents: 1–3 features, 2–4 actions, weights of the right shape."""
    feature_names = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    features = []
    for name in feature_names:
        if draw(st.booleans()):
            features.append({"name": name, "kind": "numeric", "center": draw(finite),
                             "scale": draw(st.floats(1e-3, 1e6))})
        else:
            features.append({"name": name, "kind": "categorical",
                             "categories": draw(st.lists(names, min_size=1, max_size=3, unique=True))})
    columns = ["intercept"] + [f"{f['name']}={c}" if f["kind"] == "categorical" else f["name"]
                               for f in features for c in (f.get("categories") or [None])]
    actions = draw(st.lists(names, min_size=2, max_size=4, unique=True))
    weights = [[draw(finite) for _ in columns] for _ in actions[1:]]
    estimate = st.fixed_dictionaries({"estimator": names, "value": finite, "se": finite, "lower": finite,
                                      "upper": finite, "n": st.integers(0, 10**6), "method": names,
                                      "level": st.floats(0.5, 0.999)})
    return {"format": "promolab-targeting-policy", "version": 1, "features": features, "columns": columns,
            "actions": actions, "weights": weights, "threshold": draw(st.floats(0, 1e6)), "reward": draw(st.text()),
            "value": draw(st.dictionaries(names, estimate, max_size=2)),
            "source": {"fingerprint": "sha256:0", "rows": draw(st.integers(0, 10**6)), "treatment": "arm",
                       "learner": "x", "model": "ridge", "folds": 5, "seed": 0}}


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                        max_size=3),
                           max_leaves=10)


@PROPERTY
@given(policy_docs())
def test_valid_documents_round_trip(doc):
    policy = policy_from_dict(json.loads(json.dumps(doc)))
    assert policy.to_dict() == doc
    assert policy_from_dict(policy.to_dict()).to_dict() == doc


@PROPERTY
@given(policy_docs(), st.data())
def test_any_edit_loads_or_is_refused_naming_a_policy_field(doc, data):
    """Replace one value anywhere in a valid document by any JSON value: the parser returns a
    policy or raises an InputError whose field starts with ``policy`` (nothing else escapes)."""
    doc = copy.deepcopy(doc)
    paths = list(_paths(doc))
    path = data.draw(st.sampled_from(paths))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = data.draw(json_values)
    try:
        policy = policy_from_dict(doc)
    except InputError as exc:
        assert exc.field.startswith("policy"), exc.field
    else:
        assert policy.weights.shape == (len(policy.actions) - 1, policy.features.dim)


@PROPERTY
@given(json_values)
def test_any_json_document_is_refused_naming_a_policy_field(value):
    with pytest.raises(InputError) as err:
        policy_from_dict(value)
    assert err.value.field.startswith("policy")


def _paths(node, prefix=()):
    """Every (key, key, …) path to a value in a JSON document."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))
