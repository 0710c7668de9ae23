"""The Sequential page's view of ``promolab.analysis.sequential_path`` (``promolab sequential
KEY --looks K --json``): no statistics here, only the selection of one comparison's rows.

The library splits exposures into looks (calendar cuts, or a hash of the user id when every
exposure shares one time stamp), reruns the report's SQL per look, and returns per variant ×
metric the z path, the group-sequential boundaries, the always-valid p-value (running
minimum, τ² fixed at the first look) and the confidence sequence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from promolab.analysis.sequential_path import SPENDINGS, SequentialPath

__all__ = ["SPENDINGS", "SequentialPath", "look_frame"]


def look_frame(path: SequentialPath, metric: str, variant: str) -> pd.DataFrame:
    """One row per look for one comparison (the CLI JSON's ``looks`` joined with its ``points``);
    infinite values (no boundary, no interval yet) become NaN so charts leave gaps."""
    return path.frame(metric, variant).replace([np.inf, -np.inf], np.nan)
