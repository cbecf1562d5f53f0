"""Find service names in free text that are not in the data (the LLM's hallucination check).

A *mention* is one of:

- a backticked identifier (the prompts ask the model to put service and series names in backticks);
- a word shaped like a service name: lowercase parts joined by hyphens whose first part starts a known
  service name or whose last part is a service suffix (``service``, ``db``, ``api``, ...), e.g.
  ``ts-order-service`` or ``carts-db``;
- a word ending in ``service`` (``cartservice``).

A mention is fine when it is a known service, a known series column, or (for backticked words) a known
metric name or a ``<known service>_<metric>`` column-like name. Everything else is reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rca.data.case import Case, split_series_name
from rca.rank.ranking import Ranking

SERVICE_SUFFIXES = frozenset(
    {"service", "svc", "db", "api", "server", "app", "cache", "redis", "mysql", "mongo", "mongodb", "queue", "gateway"}
)
"""Last hyphen-parts that make a hyphenated word read as a service name."""

_BACKTICKED = re.compile(r"`([^`\n]{1,120})`")
_HYPHENATED = re.compile(r"(?<![\w.-])([a-z][a-z0-9]*(?:-[a-z0-9]+)+)(?![\w-])")
_SERVICE_WORD = re.compile(r"(?<![\w-])([a-z][a-z0-9]*service)(?![\w-])")
_IDENTIFIER = re.compile(r"^[A-Za-z][\w.-]*$")


class MentionChecker:
    """Checks text against the services, series and metrics of one case.

    Parameters
    ----------
    services
        Every service in the data (telemetry, spans, call graph, ranking).
    columns
        Every series column.
    metrics
        Every metric name (the part of a column after its service).
    """

    def __init__(self, services: Iterable[str], columns: Iterable[str], metrics: Iterable[str]) -> None:
        self.services = {s.lower() for s in services}
        self.columns = {c.lower() for c in columns}
        self.metrics = {m.lower() for m in metrics}
        self.first_parts = {s.split("-", 1)[0] for s in self.services}

    def is_service(self, name: str) -> bool:
        """Whether ``name`` is a service in the data (case-insensitive)."""
        return name.strip().lower() in self.services

    def unknown(self, text: str) -> list[str]:
        """Service-like names in ``text`` that are not in the data, sorted and deduplicated."""
        found: set[str] = set()
        for raw in _BACKTICKED.findall(text):
            word = raw.strip().lower()
            if _IDENTIFIER.match(word) and not self._known_backticked(word):
                found.add(word)
        for word in _HYPHENATED.findall(text):
            parts = word.split("-")
            looks_like_service = parts[0] in self.first_parts or parts[-1] in SERVICE_SUFFIXES
            if looks_like_service and not self._known(word):
                found.add(word)
        found.update(word for word in _SERVICE_WORD.findall(text) if word != "service" and not self._known(word))
        return sorted(found)

    def _known(self, word: str) -> bool:
        return word in self.services or word in self.columns

    def _known_backticked(self, word: str) -> bool:
        if self._known(word) or word in self.metrics:
            return True
        return "_" in word and split_series_name(word)[0] in self.services


def checker_for(case: Case, ranking: Ranking) -> MentionChecker:
    """The checker of an explanation of ``ranking``: the case's services, series and metrics, the ranked
    services, and the services of its spans and call graph."""
    telemetry = case.telemetry
    services = set(telemetry.services) | {c.service for c in ranking.candidates}
    if telemetry.traces is not None:
        services |= {str(s) for s in telemetry.traces["service"].unique()}
    if telemetry.graph:
        services |= {s for edge in telemetry.graph for s in edge}
    return MentionChecker(services, telemetry.series.keys(), (m for _, m in telemetry.series.values()))
