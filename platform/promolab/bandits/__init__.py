"""Bandit policies as pure functions of per-arm sufficient statistics.

``policy.probabilities(state, rng)`` gives next-batch selection probabilities;
``policy.choose(state, rng, size)`` draws arms for ``size`` users;
``state.update(n, sum, sum_sq)`` folds in new feedback.
"""

from promolab.bandits.base import Policy, as_generator
from promolab.bandits.greedy import EpsilonGreedy
from promolab.bandits.priors import BetaPrior, NormalInverseGammaPrior, Prior, make_prior
from promolab.bandits.registry import POLICIES, make_policy, policy_parameters
from promolab.bandits.state import ArmState
from promolab.bandits.thompson import Thompson, TopTwoThompson
from promolab.bandits.ucb import KLUCB, UCB1, bernoulli_kl

__all__ = [
    "POLICIES",
    "ArmState",
    "BetaPrior",
    "EpsilonGreedy",
    "KLUCB",
    "NormalInverseGammaPrior",
    "Policy",
    "Prior",
    "Thompson",
    "TopTwoThompson",
    "UCB1",
    "as_generator",
    "bernoulli_kl",
    "make_policy",
    "make_prior",
    "policy_parameters",
]
