"""Per-series anomaly scores and incident detection."""

from rca.anomaly.scores import baseline_zscores, max_abs, onset_index

__all__ = ["baseline_zscores", "max_abs", "onset_index"]
