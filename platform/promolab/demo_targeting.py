"""The demo's targeting step: learn who should get which e-mail on half of Hillstrom's
customers, deploy that policy as a contextual experiment with a randomised holdout, and
measure it on the other half.

1. Learn: ``experiment_uplift`` on a random half of ``hillstrom-email``'s customers
   (X-learner on ridge regression, 5-fold cross-fitting; reward: spend − the $0.01 e-mail
   cost), giving a linear ``TargetingPolicy``.
2. Deploy: ``targeting_experiment`` makes ``hillstrom-targeted`` (kind ``contextual``,
   policy ``targeting``, a 20 % holdout assigned by the original equal split).
3. Measure, by replay (Li et al. 2011): each customer of the other half is assigned by the
   served policy (``service.evaluate.decide_each``: the holdout draw, the policy, the
   propensity, the logged context); the customer enters the experiment only when that
   assignment equals the e-mail Hillstrom actually sent, so the outcomes recorded (the
   customer's real visits and spend) are those the assignment would have produced. The
   original split was uniform (1/3 per arm) and independent of the customer, so the
   accepted customers are an unbiased sample of the deployed policy's traffic.

The assignments are spread over the campaign's first three days (the outcome events come
on the fourth), so the allocation has a time axis.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from promolab.adaptive.contextual import spec_model
from promolab.service.evaluate import Decision, Running, decide_each
from promolab.store import Registry, exposures_batch
from promolab.uplift.deploy import targeting_experiment
from promolab.uplift.experiment import experiment_table, experiment_uplift
from promolab.uplift.report import UpliftReport

LEARNED_ON = "hillstrom-email"
TARGETED = "hillstrom-targeted"
FEATURES = ("recency", "history", "mens", "womens", "zip_code", "newbie", "channel")
HOLDOUT = 0.2
LEARN_SHARE = 0.5
SEED = 7
DEPLOY_DAYS = 3
OBSERVATION = pd.Timedelta(days=14)  # Hillstrom's outcomes cover two weeks after the e-mail


def learning_users(user_ids: pd.Series, seed: int = SEED) -> np.ndarray:
    """A seeded random ``LEARN_SHARE`` of the users (True: learn on them)."""
    return np.random.default_rng(seed).random(len(user_ids)) < LEARN_SHARE


def learn_policy(registry: Registry) -> tuple[UpliftReport, pd.DataFrame]:
    """The uplift report on the learning half, and the other half's rows."""
    table = experiment_table(registry, LEARNED_ON)
    learn = learning_users(table["user_id"])
    report = experiment_uplift(registry, LEARNED_ON, features=FEATURES, outcomes=("visit", "spend"), model="ridge",
                               users=set(table["user_id"][learn]), seed=SEED)
    return report, table[~learn].reset_index(drop=True)


def deploy_and_replay(registry: Registry, report: UpliftReport, customers: pd.DataFrame,
                      start: pd.Timestamp) -> int:
    """Create, launch, fill (by replay) and stop ``hillstrom-targeted``; returns the customers accepted."""
    spec = targeting_experiment(report.policy, registry.get_experiment(LEARNED_ON), key=TARGETED, holdout=HOLDOUT)
    launched, over = start.to_pydatetime(), (start + OBSERVATION).to_pydatetime()
    registry.create_experiment(spec, by="demo", at=launched)
    registry.set_status(TARGETED, "running", by="demo", at=launched,
                        reason=f"targeting policy learned on half of {LEARNED_ON}, replayed on the other half")
    order = customers.sample(frac=1.0, random_state=SEED).reset_index(drop=True)
    contexts = order[list(FEATURES)].to_dict("records")
    decisions = decide_each(Running(spec, None, spec_model(spec)), order["user_id"].tolist(), contexts)
    chosen = np.array([spec.variant_keys[d.index] if isinstance(d, Decision) and d.index >= 0 else ""
                       for d in decisions])
    accepted = np.flatnonzero(chosen == order["variant"].to_numpy())
    seconds = np.linspace(0, DEPLOY_DAYS * 86400 - 1, len(order))[accepted]
    batch = pd.DataFrame({
        "user_id": order["user_id"].to_numpy()[accepted], "variant": chosen[accepted],
        "ts": [(start + pd.Timedelta(seconds=float(s))).isoformat() for s in seconds],
        "propensity": [decisions[i].propensity for i in accepted],
    })
    registry.record_exposures(TARGETED, exposures_batch(batch, "demo-replay").assign(
        context_json=[decisions[i].context for i in accepted]), source="demo-replay")
    registry.set_status(TARGETED, "stopped", by="demo", reason="two-week observation window over", at=over)
    return int(accepted.size)
