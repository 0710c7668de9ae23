"""Command modules registered on the app (imported for their side effect)."""

from promolab.cli import (  # noqa: F401
    analysis,
    bandit,
    dashboard,
    data,
    demo,
    experiments,
    segmenting,
    sequential,
    sequential_path,
    service,
    simulate,
    warehouse,
)
