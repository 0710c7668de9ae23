"""Bandit policies as pure functions of per-arm sufficient statistics.

``policy.probabilities(state, rng)`` gives next-batch selection probabilities;
``policy.choose(state, rng, size)`` draws arms for ``size`` users;
``state.update(n, sum, sum_sq)`` folds in new feedback.

Contextual policies (``promolab.bandits.contextual``: LinUCB, linear and logistic Thompson
sampling) take the users' context vectors too: ``probabilities(state, X, rng)``,
``choose(state, X, rng)``, ``update(state, X, arms, rewards)``.
"""

from promolab.bandits.base import Policy, as_generator
from promolab.bandits.contextual import ContextualPolicy
from promolab.bandits.greedy import EpsilonGreedy
from promolab.bandits.linear import LinearState, LinearThompson, LinUCB
from promolab.bandits.logistic import LogisticState, LogisticThompson
from promolab.bandits.priors import BetaPrior, NormalInverseGammaPrior, Prior, make_prior
from promolab.bandits.registry import (CONTEXTUAL_POLICIES, POLICIES, make_contextual_policy, make_policy,
                                       policy_parameters)
from promolab.bandits.state import ArmState
from promolab.bandits.thompson import Thompson, TopTwoThompson
from promolab.bandits.ucb import KLUCB, UCB1, bernoulli_kl

__all__ = [
    "CONTEXTUAL_POLICIES",
    "POLICIES",
    "ArmState",
    "BetaPrior",
    "ContextualPolicy",
    "EpsilonGreedy",
    "KLUCB",
    "LinUCB",
    "LinearState",
    "LinearThompson",
    "LogisticState",
    "LogisticThompson",
    "NormalInverseGammaPrior",
    "Policy",
    "Prior",
    "Thompson",
    "TopTwoThompson",
    "UCB1",
    "as_generator",
    "bernoulli_kl",
    "make_contextual_policy",
    "make_policy",
    "make_prior",
    "policy_parameters",
]
