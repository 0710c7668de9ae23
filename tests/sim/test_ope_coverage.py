"""The bootstrap intervals cover the true policy value about 95 % of the time.

Repeated simulated logs whose policy value is known in closed form: a sparse click log
(2-8 % conversion, an action logged 5 % of the time that the target plays up to 30 %), and
a contextual log (two customer groups, logging and target depending on the group, the
target also on a nuisance variable, so DR differs from DM). The reward model is the
per-(group, action) mean, refit in each resample; switch-DR truncates the rows whose weight
exceeds 3. The intervals must also be about as wide as the estimators' spread across logs
(a too-wide interval covers trivially).
"""

from __future__ import annotations

import numpy as np
import pytest

from promolab.sim.evaluation import evaluate_target
from promolab.sim.logged import LoggedData
from promolab.sim.ope_intervals import Resampling
from promolab.sim.reward_model import CellMeans

LOGS, ROWS, TAU = 300, 2000, 3.0
ESTIMATORS = ("ips", "snips", "dr", "dm", "switch-dr")


def mixed(rng, first, second):
    """Each row's target: a random mix (1 − z)·first + z·second, z ~ U(0, 1); on average their mean."""
    z = rng.random((first.shape[0], 1))
    return (1 - z) * first + z * second


def sparse_clicks(rng):
    logging, rate = np.array([0.6, 0.25, 0.1, 0.05]), np.array([0.03, 0.04, 0.08, 0.06])
    first, second = np.array([0.1, 0.2, 0.4, 0.3]), np.array([0.4, 0.3, 0.2, 0.1])
    action = rng.choice(4, size=ROWS, p=logging)
    reward = (rng.random(ROWS) < rate[action]).astype(float)
    log = LoggedData("sparse", tuple("abcd"), action, reward, logging[action])
    return log, mixed(rng, np.tile(first, (ROWS, 1)), second), None, (first + second) / 2 @ rate


def contextual(rng):
    share = 0.4  # of group 1
    logging = np.array([[0.5, 0.3, 0.2], [0.1, 0.3, 0.6]])
    rate = np.array([[0.05, 0.1, 0.2], [0.3, 0.1, 0.05]])
    first, second = np.array([[0.1, 0.2, 0.7], [0.8, 0.1, 0.1]]), np.array([[0.6, 0.2, 0.2], [0.2, 0.4, 0.4]])
    group = (rng.random(ROWS) < share).astype(int)
    action = (rng.random((ROWS, 1)) > logging[group].cumsum(axis=1)).sum(axis=1).clip(max=2)
    reward = (rng.random(ROWS) < rate[group, action]).astype(float)
    mean = (first + second) / 2
    truth = (1 - share) * mean[0] @ rate[0] + share * mean[1] @ rate[1]
    log = LoggedData("contextual", tuple("abc"), action, reward, logging[group, action])
    return log, mixed(rng, first[group], second[group]), CellMeans(group, 2), truth


@pytest.mark.parametrize("scenario", [sparse_clicks, contextual])
def test_intervals_cover_the_true_value_about_95_percent_of_the_time(scenario):
    rng = np.random.default_rng(2024)
    covered = {name: [] for name in ESTIMATORS}
    values, widths = {name: [] for name in ESTIMATORS}, {name: [] for name in ESTIMATORS}
    for i in range(LOGS):
        log, target, model, truth = scenario(rng)
        evaluation = evaluate_target(log, target, model, tau=TAU, resampling=Resampling(n_bootstrap=200, seed=i))
        for e in evaluation.estimates:
            covered[e.estimator].append(e.lower <= truth <= e.upper)
            values[e.estimator].append(e.value)
            widths[e.estimator].append(e.upper - e.lower)
    for name in ESTIMATORS:
        assert 0.90 <= np.mean(covered[name]) <= 0.985, (name, np.mean(covered[name]))
        normal_width = 2 * 1.96 * np.std(values[name])
        assert 0.8 < np.mean(widths[name]) / normal_width < 1.25, (name, np.mean(widths[name]), normal_width)
