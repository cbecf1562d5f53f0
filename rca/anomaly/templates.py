"""Log templates mined with Drain, per service, over masked template keys.

The keys (:func:`rca.data.logs.parse_log_line`) already have ids, numbers and timestamps masked;
Drain then merges keys that differ only in the words a statement fills in (a station name, a user
name) into one template. A key that carries its source location (``Impl#37``) is routed by it: Drain's
prefix tree splits on the first token, which is the location, so two statements are never merged.

The miner's state is part of a fitted model: :meth:`LogTemplates.state` lists each service's
templates, and :meth:`LogTemplates.from_state` rebuilds the miner from them (plain strings: loading a
model runs no code from it, unlike a pickled miner).

Reference
---------
He, Zhu, Zheng, Lyu. "Drain: An Online Log Parsing Approach with Fixed Depth Tree", ICWS 2017
(the ``drain3`` implementation).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Self

from drain3.drain import Drain

_LOCATION = re.compile(r"(?<!\S)[\w.$]+#\d+(?!\S)")


def drain_content(key: str) -> str:
    """The text Drain sees for a key: its source location (``Impl#37``), if any, first."""
    found = _LOCATION.search(key)
    if found is None or found.start() == 0:
        return key
    return f"{found.group(0)} {key[: found.start()]}{key[found.end() :]}"


@dataclass
class LogTemplates:
    """Drain log templates, one miner per service.

    Parameters
    ----------
    similarity
        Drain's similarity threshold: a key joins a template when at least this share of their
        tokens agree.
    depth
        Drain's tree depth (4: token count, then the first token, then the templates).
    max_children
        Children per tree node (Drain's bound on the prefix tree's fan-out).
    """

    similarity: float = 0.4
    depth: int = 4
    max_children: int = 1000
    miners_: dict[str, Drain] = field(default_factory=dict, init=False, repr=False)

    def _miner(self, service: str) -> Drain:
        if service not in self.miners_:
            self.miners_[service] = Drain(
                depth=self.depth,
                sim_th=self.similarity,
                max_children=self.max_children,
                parametrize_numeric_tokens=False,  # keys are masked already; keep `Impl#37` literal
            )
        return self.miners_[service]

    def fit(self, keys: Iterable[tuple[str, str]]) -> Self:
        """Mine templates from ``(service, key)`` pairs (each distinct pair once, in sorted order)."""
        for service, key in sorted(set(keys)):
            self._miner(service).add_log_message(drain_content(key))
        return self

    def template(self, service: str, key: str) -> str:
        """The template a key belongs to, by Drain's own rule (without learning); the key if none."""
        miner = self.miners_.get(service)
        if miner is None:
            return key
        content = drain_content(key)
        cluster = miner.tree_search(miner.root_node, miner.get_content_as_tokens(content), miner.sim_th, True)
        return key if cluster is None else str(cluster.get_template())

    def templates(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """:meth:`template` of each distinct ``(service, key)`` pair."""
        return {pair: self.template(*pair) for pair in set(pairs)}

    @property
    def size(self) -> int:
        """Templates over all services."""
        return sum(len(m.id_to_cluster) for m in self.miners_.values())

    def state(self) -> dict[str, list[str]]:
        """Each service's templates, in the order they were created (what :meth:`from_state` reads)."""
        return {
            service: [miner.id_to_cluster[i].get_template() for i in sorted(miner.id_to_cluster.keys())]
            for service, miner in sorted(self.miners_.items())
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Iterable[str]], **params: float) -> LogTemplates:
        """Rebuild the miner from :meth:`state` (each template re-added in its order)."""
        templates = cls(**params)  # type: ignore[arg-type]
        for service, lines in state.items():
            miner = templates._miner(service)
            for line in lines:
                miner.add_log_message(line)
        return templates
