"""``promolab uplift``: who should get which offer, from a randomised experiment or per-user table;
``promolab deploy-policy``: the learned policy as a contextual experiment with a holdout."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from promolab.analysis.economics import EconomicsConfig, experiment_config
from promolab.bandits.base import check_int
from promolab.cli.app import app, console
from promolab.cli.flags import flag_errors
from promolab.cli.options import ByOption, DbOption, JsonOption, open_registry
from promolab.cli.output import Table, plain, print_json, say, status
from promolab.errors import InputError
from promolab.files import write_text_atomic
from promolab.spec import experiment_to_toml
from promolab.uplift.crossfit import MAX_FOLDS, MAX_SEED
from promolab.uplift.data import read_table
from promolab.uplift.deploy import targeting_experiment
from promolab.uplift.experiment import experiment_uplift
from promolab.uplift.regression import check_model
from promolab.uplift.margin import parse_offer_costs
from promolab.uplift.policy import PolicyValue, check_share
from promolab.uplift.policy_file import load_policy
from promolab.uplift.report import LEARNER_NAMES, UpliftReport, analyze_uplift, check_learners

UPLIFT_FLAGS = {"table": "FILE", "treatment": "--treatment-col", "control": "--control", "outcome": "--outcome-col",
                "features": "--features", "economics column": "--revenue", "cost": "--cost",
                "economics.margin_rate": "--margin-rate", "learner": "--learner", "model": "--model",
                "folds": "--folds", "seed": "--seed", "share": "--share", "propensity": "--propensity",
                "experiment": "--experiment"}


def _names(items: list[str] | None) -> list[str]:
    """Repeated and comma-separated values: ``--features a,b --features c`` → [a, b, c]."""
    return [name.strip() for item in items or [] for name in item.split(",") if name.strip()]


def _propensities(items: list[str]) -> dict[str, float] | None:
    """``--propensity ARM=P`` items → {arm: p} (None when there are none: the arm shares are used)."""
    out: dict[str, float] = {}
    for item in items:
        arm, sep, value = item.rpartition("=")
        try:
            p = float(value)
        except ValueError:
            p = math.nan
        if not (sep and arm and 0 < p <= 1):
            raise InputError("--propensity", item, "ARM=PROBABILITY with a probability in (0, 1]")
        out[arm] = p
    return out or None


def _required(value: object, flag: str) -> None:
    if not value:
        raise InputError(flag, None, "a value when the data is a FILE (or give --experiment KEY)")


@app.command("uplift")
def uplift_command(
    file: Annotated[Optional[Path], typer.Argument(
        help="Randomised per-user table, CSV or Parquet (or give --experiment).")] = None,
    experiment: Annotated[Optional[str], typer.Option(
        "--experiment", metavar="KEY", help="A registry A/B experiment instead of a FILE: its analysed users, "
                                            "attributes, metrics, weights and economics.")] = None,
    db: DbOption = None,
    treatment_col: Annotated[Optional[str], typer.Option(
        "--treatment-col", metavar="COL", help="Column holding the arm (FILE).")] = None,
    control: Annotated[Optional[str], typer.Option(
        "--control", metavar="VALUE", help="Value of the control arm, no offer (FILE).")] = None,
    outcome_col: Annotated[Optional[list[str]], typer.Option(
        "--outcome-col", metavar="COL...",
        help="Outcome column(s), comma-separated or repeated (FILE; default for --experiment: its metrics).")] = None,
    features: Annotated[Optional[list[str]], typer.Option(
        "--features", metavar="COL,COL...",
        help="Pre-treatment attribute columns the models and policy use (FILE; default for --experiment: "
             "every stored attribute).")] = None,
    revenue: Annotated[Optional[str], typer.Option(
        "--revenue", metavar="COL", help="Revenue column of the policy's margin (default: the spec's economics, "
                                         "else the first outcome).")] = None,
    cost: Annotated[Optional[list[str]], typer.Option(
        "--cost", metavar="OFFER=AMOUNT...",
        help="Per-user cost of an offer (OFFER=AMOUNT), or OFFER:key=value[,key=value] with keys discount_pct, "
             "shipping_cost, coupon_value, per_user; repeatable.")] = None,
    margin_rate: Annotated[Optional[float], typer.Option(
        "--margin-rate", help="Gross margin on revenue (default 1 = not stated, or the spec's).")] = None,
    learner: Annotated[Optional[list[str]], typer.Option(
        "--learner", metavar="t|x|dr...", help="Meta-learner(s) to compare; the policy uses the first (default x).")
    ] = None,
    model: Annotated[str, typer.Option("--model", metavar="ridge|hgb",
                                       help="Base regressor: ridge or gradient boosting.")] = "hgb",
    folds: Annotated[int, typer.Option("--folds", help=f"Cross-fitting folds, 2 to {MAX_FOLDS}.")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the folds, the models and the bootstrap.")] = 0,
    share: Annotated[Optional[float], typer.Option(
        "--share", help="Budget: give offers to at most this share of users (the highest predicted margins).")] = None,
    propensity: Annotated[Optional[list[str]], typer.Option(
        "--propensity", metavar="ARM=P...", help="Known assignment probability of each arm (FILE; default: arm "
                                                 "shares; --experiment uses the variant weights).")
    ] = None,
    save_policy: Annotated[Optional[Path], typer.Option(
        "--save-policy", metavar="FILE", help="Write the distilled linear policy as JSON "
                                              "(deploy it with promolab deploy-policy).")] = None,
    json_: JsonOption = False,
) -> None:
    """Who should get which offer: uplift models, their Qini/AUUC, and a targeting policy valued off-policy.

    Example: promolab uplift --experiment hillstrom-email --model ridge --save-policy policy.json
    """
    with flag_errors(UPLIFT_FLAGS):
        if (file is None) == (experiment is None):
            raise InputError("FILE", file, "a table FILE or --experiment KEY (one of the two)")
        learners = check_learners(_names(learner) or ["x"])
        check_model(model)
        check_int("folds", folds, 2, MAX_FOLDS)
        check_int("seed", seed, 0, MAX_SEED)
        check_share(share)
        if save_policy is not None and not save_policy.parent.is_dir():
            raise InputError("--save-policy", str(save_policy), "a file in an existing folder")
        outcomes = _names(outcome_col)
        costs = parse_offer_costs(cost or [])
        options = dict(learners=learners, model=model, folds=folds, seed=seed, share=share)
        if experiment is not None:
            registry = open_registry(db)
            spec = registry.get_experiment(experiment)
            base = experiment_config(spec)
            economics = None  # the spec's, else the first outcome with no costs
            if revenue or costs or margin_rate is not None:
                default = base.revenue if base else (outcomes or [spec.primary_metric.key])[0]
                economics = EconomicsConfig(revenue or default,
                                            margin_rate=1.0 if margin_rate is None else margin_rate,
                                            costs={**(base.costs if base else {}), **costs})
            with status(f"cross-fitting uplift models on {experiment}", quiet=json_):
                result = experiment_uplift(registry, experiment, features=_names(features), outcomes=outcomes,
                                           economics=economics, **options)
            source = f"{experiment} ({registry.path})"
        else:
            for value, flag in ((treatment_col, "--treatment-col"), (control, "--control"),
                                (outcomes, "--outcome-col"), (_names(features), "--features")):
                _required(value, flag)
            economics = EconomicsConfig(revenue or outcomes[0], margin_rate=1.0 if margin_rate is None else margin_rate,
                                        costs=costs)
            with status(f"reading {file}", quiet=json_):
                frame = read_table(file)
            with status("cross-fitting uplift models", quiet=json_):
                result = analyze_uplift(frame, treatment=treatment_col, control=control, outcomes=outcomes,
                                        features=_names(features), economics=economics,
                                        propensity=_propensities(propensity or []), **options)
            source = str(file)
    if save_policy is not None:
        result.policy.save(save_policy)
    if json_:
        print_json({**result.to_dict(), "policy_file": None if save_policy is None else str(save_policy)})
        return
    print_uplift(result, source)
    if save_policy is not None:
        say(f"policy saved to {save_policy} (deploy it with promolab deploy-policy)")


@app.command("deploy-policy")
def deploy_policy(
    policy: Annotated[Path, typer.Argument(help="Targeting policy file (promolab uplift --save-policy).")],
    like: Annotated[str, typer.Option("--like", metavar="KEY",
                                      help="The experiment it was learned on: its variants, metrics, economics.")],
    key: Annotated[str, typer.Option("--key", metavar="KEY", help="Key of the new contextual experiment.")],
    name: Annotated[Optional[str], typer.Option("--name", help="Its name (default: LIKE's name, targeted).")] = None,
    holdout: Annotated[float, typer.Option(
        "--holdout", help="Share of users assigned by LIKE's randomised split instead, to measure the policy.")] = 0.1,
    floor: Annotated[float, typer.Option(
        "--floor", help="Every variant's minimum probability outside the holdout (off-policy evaluation).")] = 0.0,
    reward: Annotated[Optional[str], typer.Option(
        "--reward", metavar="METRIC", help="Metric the read-out compares (default: the revenue metric).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", metavar="FILE", help="Write the spec (TOML) here.")] = None,
    create_it: Annotated[bool, typer.Option("--create", help="Register it as a draft too.")] = False,
    db: DbOption = None,
    by: ByOption = "cli",
) -> None:
    """Deploy a targeting policy as a contextual experiment with a randomised holdout.

    Learn on experiment A with ``promolab uplift --save-policy``, deploy with measurement in B.
    Without --out or --create the spec is printed.

    Example: promolab deploy-policy policy.json --like hillstrom-email --key hillstrom-targeted --create
    """
    if out is not None and not out.parent.is_dir():
        raise InputError("--out", str(out), "a file in an existing folder")
    registry = open_registry(db, must_exist=True)
    with flag_errors({"contextual.holdout": "--holdout", "contextual.floor": "--floor",
                      "contextual.reward": "--reward", "key": "--key", "name": "--name", "experiment": "--like"}):
        spec = targeting_experiment(load_policy(policy), registry.get_experiment(like), key=key, name=name,
                                    holdout=holdout, floor=floor, reward=reward)
    if create_it:
        registry.create_experiment(spec, by=by)
    if out is not None:
        write_text_atomic(out, experiment_to_toml(spec))
    if out is None and not create_it:
        print(experiment_to_toml(spec), end="")
        return
    say(f"{spec.key}: targeting over {like}'s variants, holdout {spec.contextual.holdout:.0%}"
        + (f", spec {out}" if out else "") + (" — created (draft); launch with promolab experiment launch "
                                               f"{spec.key}" if create_it else ""), soft_wrap=True)


def _ci(low: float, high: float) -> str:
    return f"[{low:.4g}, {high:.4g}]"


def _value(p: PolicyValue, name: str) -> str:
    e = getattr(p, name)
    return f"{e.value:.4g} {_ci(e.lower, e.upper)}"


def print_uplift(report: UpliftReport, source: str) -> None:
    """The report as text: models, deciles of the policy's learner, policies."""
    arms = ", ".join(f"{a} {n:,} (p {p:.3f})" for a, n, p in zip(report.arms, report.counts, report.propensity))
    say(f"{source}: {report.n:,} rows", soft_wrap=True)
    say(f"arms: {arms}; control {report.arms[0]}")
    say(f"{', '.join(LEARNER_NAMES[name] for name in report.learners)} on {report.model}, {report.folds}-fold "
        f"cross-fitting (every prediction from models that did not see the row), seed {report.seed}")
    worst = report.balance.worst
    say(f"randomisation check passed: smallest chi-square p {worst.p_value:.3g} ({worst.feature}), "
        f"largest |SMD| {max(f.max_abs_smd for f in report.balance.features):.3f}")

    models = Table(title=plain("Uplift models, out of sample (Qini coefficient and AUUC as scikit-uplift "
                               "normalises them)", "table.title"))
    for header in ("learner", "outcome", "offer", "Qini coef.", "AUUC", "observed uplift", "mean predicted"):
        models.add_column(header, text=header in ("learner", "outcome", "offer"))
    for e in report.evaluations:
        models.add_row(e.learner, plain(e.outcome), plain(e.offer), f"{e.qini_coefficient:.4f}", f"{e.auuc:.4f}",
                       f"{e.observed_uplift:.4g}", f"{e.predicted_uplift:.4g}")
    console.print(models)

    for e in (e for e in report.evaluations if e.learner == report.learners[0]):
        deciles = Table(title=plain(f"{e.outcome}, {e.offer} vs {report.arms[0]}: observed uplift by decile of "
                                    f"predicted uplift ({LEARNER_NAMES[e.learner]})", "table.title"))
        for header in ("decile", "n offer", "n control", "predicted", "observed", "95 % CI (Welch)"):
            deciles.add_column(header)
        for d in e.deciles:
            deciles.add_row(str(d.decile), f"{d.n_treated:,}", f"{d.n_control:,}", f"{d.predicted:.4g}",
                            f"{d.uplift:.4g}", _ci(d.ci_low, d.ci_high))
        console.print(deciles)

    t = report.targeting
    policies = Table(title=plain(f"Policies: {t.reward}, per user (off-policy on held-out rows, 95 % bootstrap CI)",
                                 "table.title"))
    for header in ("policy", "share per action", "DR", "IPS", "SNIPS", "ESS"):
        policies.add_column(header, text=header == "policy", justify="left" if header.startswith("share") else None)
    for p in t.policies:
        policies.add_row(plain(p.policy), plain("\n".join(f"{a} {s:.0%}" for a, s in p.share.items())),
                         _value(p, "dr"), _value(p, "ips"), _value(p, "snips"), f"{p.weights.ess:,.0f}")
    policies.caption = plain("\n".join(f"{lift.policy} − {lift.baseline}: DR {lift.dr.value:+.4g} "
                                       f"{_ci(lift.dr.lower, lift.dr.upper)}, IPS {lift.ips.value:+.4g} "
                                       f"{_ci(lift.ips.lower, lift.ips.upper)}" for lift in t.lifts))
    console.print(policies)
    for note in report.notes:
        say(f"note: {note}")
