"""The default reward model of DM, DR and switch-DR: the logged mean reward of each (group, action).

q̂(x, a) = Σ rᵢ / #rows over the logged rows of x's group that played a (0 where none did);
with one group it is each action's logged mean (``promolab.sim.ope.arm_means``). Its
estimates are per-cell sums (count, reward), so a bootstrap resample refits it for free —
which the intervals of DM and switch-DR need, since both carry q̂'s own estimation error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from promolab.errors import InputError

MAX_CELLS = 100_000  # groups × actions: each cell is a few columns of the bootstrap's sums


@dataclass(frozen=True, eq=False)
class CellMeans:
    """``groups``: each row's group index in [0, n_groups) (None: one group for all rows)."""

    groups: np.ndarray | None = None
    n_groups: int = 1

    def __post_init__(self) -> None:
        if self.groups is not None:
            groups = np.asarray(self.groups)
            if not np.issubdtype(groups.dtype, np.integer) or groups.ndim != 1 or (
                    groups.size and not 0 <= groups.min() <= groups.max() < self.n_groups):
                raise InputError("groups", groups.dtype.name, f"one group index in [0, {self.n_groups}) per row")
            object.__setattr__(self, "groups", groups.astype(np.intp))

    def row_groups(self, n: int) -> np.ndarray:
        if self.groups is None:
            return np.zeros(n, dtype=np.intp)
        if self.groups.size != n:
            raise InputError("groups", self.groups.size, f"one group per logged row ({n})")
        return self.groups

    def cells(self, action: np.ndarray, n_arms: int) -> tuple[np.ndarray, int]:
        """Each row's cell index g·K + a, and the number of cells G·K."""
        count = self.n_groups * n_arms
        if count > MAX_CELLS:
            raise InputError("groups × actions", count, f"at most {MAX_CELLS:,} reward-model cells")
        return self.row_groups(action.size) * n_arms + action, count
