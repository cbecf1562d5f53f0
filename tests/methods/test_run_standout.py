"""`run`'s peer comparison within a metric family (standout_scores)."""

import math

from rca.methods.run import standout_scores


def test_standout_is_margin_over_runner_up_of_same_metric() -> None:
    series = {
        "a_cpu": ("a", "cpu"),
        "b_cpu": ("b", "cpu"),
        "c_cpu": ("c", "cpu"),
        "a_p99": ("a", "p99"),
        "b_p99": ("b", "p99"),
        "c_only": ("c", "only"),
    }
    scores = {"a_cpu": 0.0, "b_cpu": 40.0, "c_cpu": 1.0, "a_p99": 900.0, "b_p99": 1000.0, "c_only": 5.0}
    out = standout_scores(scores, series)
    assert math.isclose(out["b_cpu"], math.log1p(40.0) - math.log1p(1.0))
    assert out["a_cpu"] == 0.0 and out["c_cpu"] == 0.0
    # a metric high in every service barely singles one out, however large its raw score
    assert out["b_p99"] < out["b_cpu"]
    assert out["a_p99"] == 0.0
    assert out["c_only"] == 0.0
