"""Command modules registered on the app (imported for their side effect)."""

from promolab.cli import analysis, bandit, data, demo, experiments  # noqa: F401
from promolab.cli import sequential  # noqa: F401
from promolab.cli import simulate  # noqa: F401
from promolab.cli import warehouse  # noqa: F401
from promolab.cli import service as _service  # noqa: F401
from promolab.cli import dashboard  # noqa: F401
from promolab.cli import segmenting  # noqa: F401  (segment-users, simulate-segments, replay-segments)
from promolab.cli import sequential_path  # noqa: F401  (promolab sequential KEY --looks K)
