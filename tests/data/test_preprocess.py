"""preprocess: one canonical column order and memory layout, so the same window gives the same answer."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rca.data.case import Case, Telemetry
from rca.data.preprocess import preprocess
from rca.methods import get_method


def _case(frame: pd.DataFrame) -> Case:
    series = {c: (c.split("_")[0], c.split("_")[1]) for c in frame.columns}
    return Case(name="w", telemetry=Telemetry.from_frame(frame, series), inject_time=float(frame.index[60]))


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)
    index = pd.Index(np.arange(90, dtype=float), name="time")
    names = [f"s{i}_m{j}" for i in range(6) for j in range(2)]
    values = rng.normal(10, 1, (90, len(names)))
    values[60:, 3] += 8  # one series rises after the anomaly time
    loader = pd.DataFrame(values, index=index, columns=names)  # row-major, the loader's column order
    # as the store hands it back: a long table pivoted (another layout) with its own column order
    long = loader[names[::-1]].stack().rename("value").reset_index()
    long.columns = ["time", "name", "value"]
    pivoted = long.pivot(index="time", columns="name", values="value")[names[::-1]]
    pivoted.columns.name = None
    return loader, pivoted


def test_the_same_values_in_another_order_and_layout_preprocess_identically() -> None:
    loader, pivoted = _frames()
    assert list(loader.columns) != list(pivoted.columns)
    a, b = preprocess(_case(loader)).frame, preprocess(_case(pivoted)).frame
    assert list(a.columns) == sorted(loader.columns) == list(b.columns)
    assert a.to_numpy().flags["F_CONTIGUOUS"] and b.to_numpy().flags["F_CONTIGUOUS"]
    assert np.array_equal(a.to_numpy(), b.to_numpy())


def test_a_learnt_ranking_does_not_depend_on_how_the_frame_was_built() -> None:
    loader, pivoted = _frames()
    answers = []
    for frame in (loader, pivoted):
        case = preprocess(_case(frame))
        method = get_method("run", epochs=3, threads=1)
        ranking = method.fit(case.normal()).rank(case)
        answers.append([(c.service, c.metric, c.score) for c in ranking.candidates])
    assert answers[0] == answers[1]
    assert answers[0][0][0] == "s1"
