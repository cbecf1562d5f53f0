"""The optional LLM explainer: a bounded, RCLAgent-style recursion-of-thought over the top-k causal subgraph.

One agent per node of the subgraph, from the symptom toward the candidate causes; children run first and
hand a small JSON report to their parent; one final synthesis call writes the narrative. The agents may
read series, spans and a candidate's changed log templates through tools. The ranking is never changed:
the explanation keeps the template's numbers and candidate list and only replaces the text. Any error,
timeout, malformed answer, spent budget, or mention of a service that is not in the data returns the
template's explanation with ``fallback_reason`` set.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from rca.data.case import Case
from rca.explain.evidence import candidate_key
from rca.explain.llm_client import ChatEndpoint, Fallback, Run, parse_object, text_field
from rca.explain.llm_tools import (
    MAX_LISTED_COLUMNS,
    MAX_LISTED_SERVICES,
    MAX_TOOL_CALLS_PER_TURN,
    compact,
    log_evidence,
    offered,
    tool_message,
)
from rca.explain.mentions import checker_for
from rca.explain.model import Explanation, NodeReport, SeriesNumbers, Timings
from rca.explain.template import TemplateExplainer
from rca.rank.ranking import Ranking

_MAX_FINDING_CHARS = 500
_MAX_NARRATIVE_CHARS = 1500

_RULES = (
    "You are one step of a root-cause analysis for a microservice system. A statistical engine has already "
    "ranked the candidate root causes; you explain, you never re-rank. Rules: use only the data given here and "
    "what the tools return; never invent or rename services, write every service or series name exactly as "
    "given and in backticks, and put nothing else in backticks; quote numbers with their units; answer with "
    "one JSON object and nothing else (no markdown)."
)

_NODE_TASK = (
    "Examine the node below: one series (or service) of the causal subgraph, between the symptom and the "
    "ranked causes. Its 'children' are its suspected causes, already examined by other agents: their reports "
    "are included. You may call the tools to check the data (read_logs: the log templates whose rate changed "
    "most in a candidate service). A child that is clearly "
    "abnormal and earlier usually explains this node (then this node is a victim); blame this node only if no "
    "child explains what it shows."
)

_SYNTHESIS_TASK = (
    "Write the explanation an on-call engineer reads first, from the ranking, the deterministic facts and the "
    "agents' reports below. Keep the ranking's order: 'root_cause' must be about the first-ranked service. "
    "Each field is at most three sentences with the key numbers. If the reports suggest the ranking is wrong, "
    "say so only in 'disagreement' (else null)."
)


@dataclass
class _Node:
    key: str
    service: str
    depth: int
    rank: int | None
    children: list[_Node] = field(default_factory=list)

    def walk(self) -> list[_Node]:
        """All nodes below and including this one, children first."""
        return [n for child in self.children for n in child.walk()] + [self]


class LLMExplainer:
    """Narrates a ranking with an LLM behind any OpenAI-compatible ``/chat/completions`` endpoint.

    Parameters
    ----------
    base_url
        The endpoint's base, e.g. ``http://127.0.0.1:11434/v1``; requests go to ``{base_url}/chat/completions``.
    model
        The model name sent with every request.
    api_key
        Sent as ``Authorization: Bearer <key>`` when set.
    max_depth
        How many causal hops below the symptom the agent tree goes (at least 1).
    max_calls
        Chat-completion requests per explanation, tool turns and the synthesis included (at least 2).
    timeout_s
        Wall-time limit of the whole explanation; every request gets what is left of it.
    k
        Top-ranked candidates whose nodes join the causal subgraph.
    max_turns
        Requests per node agent; its last one is sent without tools, to force the report.
    max_tokens
        ``max_tokens`` sent with every request (the reply limit).
    max_tool_result_chars
        Characters per tool result sent back to the model (cut there; prompts are bounded by construction:
        at most 40 column names, 80 service names, and findings of at most 500 characters).
    max_total_tokens
        Tokens per explanation, as the endpoint reports them in ``usage``.
    template
        The template explainer that supplies the numbers and the fallback.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        max_depth: int = 2,
        max_calls: int = 12,
        timeout_s: float = 20.0,
        k: int = 3,
        max_turns: int = 3,
        max_tokens: int = 600,
        max_tool_result_chars: int = 4000,
        max_total_tokens: int = 40000,
        template: TemplateExplainer | None = None,
    ) -> None:
        if max_depth < 1 or max_calls < 2 or k < 1 or max_turns < 1:
            raise ValueError("max_depth, k and max_turns must be at least 1, max_calls at least 2")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.max_depth = max_depth
        self.max_calls = max_calls
        self.timeout_s = timeout_s
        self.k = k
        self.max_turns = max_turns
        self.max_tokens = max_tokens
        self.max_tool_result_chars = max_tool_result_chars
        self.max_total_tokens = max_total_tokens
        self.template = template or TemplateExplainer()
        self.endpoint = ChatEndpoint(self.base_url, model, api_key, max_calls, timeout_s, max_tokens, max_total_tokens)

    def explain(
        self, case: Case, ranking: Ranking, k: int = 5, *, numbers: Mapping[str, SeriesNumbers] | None = None
    ) -> Explanation:
        """Explain ``ranking`` of ``case``; the candidate list narrates its top ``k`` candidates.

        ``numbers``: the analysis' per-series numbers, as :meth:`TemplateExplainer.explain` takes them.
        """
        start = time.perf_counter()
        evidence = self.template.evidence(case, numbers)
        base = self.template.render(evidence, ranking, k)
        run = Run(
            evidence=evidence,
            checker=checker_for(case, ranking),
            deadline=time.monotonic() + self.timeout_s,
            log_changes=log_evidence(ranking),
        )
        try:
            if not ranking.candidates:
                raise Fallback("no_candidates", "the ranking has no candidates")
            with httpx.Client(headers=self.endpoint.headers()) as client:
                narrative = self._recurse(client, run, case, ranking, base)
        except Fallback as stop:
            return self._finish(base, run, start, fallback=stop)
        return self._finish(base, run, start, narrative=narrative)

    def _finish(
        self,
        base: Explanation,
        run: Run,
        start: float,
        *,
        narrative: Mapping[str, str | None] | None = None,
        fallback: Fallback | None = None,
    ) -> Explanation:
        update: dict[str, Any] = {
            "llm_model": self.model,
            "llm_calls": run.calls,
            "tool_call_count": len(run.tool_calls),
            "tool_calls": run.tool_calls,
            "node_reports": run.reports,
            "tokens": run.tokens if run.reported_tokens else None,
            "timings": Timings(total_s=time.perf_counter() - start, llm_s=run.llm_s),
        }
        if fallback is not None:
            update |= {"fallback_reason": fallback.reason, "fallback_detail": fallback.detail}
        elif narrative is not None:
            update |= {
                "source": "llm",
                "summary": narrative["summary"],
                "first_symptom": base.first_symptom.model_copy(update={"text": narrative["first_symptom"]}),
                "impact": base.impact.model_copy(update={"text": narrative["impact"]}),
                "llm_note": narrative["disagreement"],
            }
            if base.root_cause is not None:
                update["root_cause"] = base.root_cause.model_copy(update={"text": narrative["root_cause"]})
        return base.model_copy(update=update)

    # -- the recursion ---------------------------------------------------------------------------------

    def _tree(self, case: Case, ranking: Ranking, base: Explanation) -> _Node:
        """The agent tree: the symptom at the root, causes below it along the causal graph, top-k only."""
        evidence_numbers = base.impact.symptom
        top = ranking.top(self.k)
        ranks: dict[str, int] = {}
        for i, c in enumerate(top):
            ranks.setdefault(candidate_key(c), i + 1)
        symptom = evidence_numbers.column if evidence_numbers is not None else candidate_key(top[0])
        members = {symptom, *ranks}
        edges: set[tuple[str, str]] = set()
        for note in base.candidates[: self.k]:
            members.update(note.path)
            edges.update(zip(note.path, note.path[1:], strict=False))
        # a candidate knows its service, also when its node is no column of the case (``<service>_log_change``)
        ranked = {candidate_key(c): c.service for c in top}
        service_of = {
            m: ranked.get(m) or (case.telemetry.service_of(m) if m in case.telemetry.series else m) for m in members
        }

        def matches(name: str) -> list[str]:
            exact = [m for m in members if m == name]
            return exact or [m for m in members if service_of[m] == name]

        for cause, effect, _ in ranking.graph:
            edges.update((a, b) for a in matches(cause) for b in matches(effect) if a != b)
        causes: dict[str, set[str]] = {}
        for a, b in edges:
            causes.setdefault(b, set()).add(a)

        def order(key: str) -> tuple[int, str]:
            return (ranks.get(key, len(ranks) + 1), key)

        root = _Node(symptom, service_of[symptom], 0, ranks.get(symptom))
        seen = {symptom}
        frontier = [root]
        while frontier:
            node = frontier.pop(0)
            if node.depth >= self.max_depth:
                continue
            for key in sorted(causes.get(node.key, set()) - seen, key=order):
                seen.add(key)
                child = _Node(key, service_of[key], node.depth + 1, ranks.get(key))
                node.children.append(child)
                frontier.append(child)
        root.children.extend(_Node(key, service_of[key], 1, ranks[key]) for key in set(ranks) - seen)
        root.children.sort(key=lambda n: order(n.key))
        self._prune(root)
        return root

    def _prune(self, root: _Node) -> None:
        """Drop the lowest-priority leaves until every agent and the synthesis fit into ``max_calls``."""
        while len(root.walk()) + 1 > self.max_calls:
            leaves = [n for n in root.walk() if not n.children and n is not root]
            worst = max(leaves, key=lambda n: (n.depth, n.rank or 10**9, n.key))
            for node in root.walk():
                if worst in node.children:
                    node.children.remove(worst)

    def _recurse(
        self, client: httpx.Client, run: Run, case: Case, ranking: Ranking, base: Explanation
    ) -> dict[str, str | None]:
        root = self._tree(case, ranking, base)
        nodes = root.walk()
        reports: dict[str, NodeReport] = {}
        for position, node in enumerate(nodes):
            reserved = len(nodes) - position  # later agents and the synthesis need one call each
            turns = min(self.max_turns, self.max_calls - run.calls - reserved)
            reports[node.key] = self._agent(client, run, case, node, [reports[c.key] for c in node.children], turns)
        return self._synthesis(client, run, ranking, base, reports[root.key])

    def _agent(
        self, client: httpx.Client, run: Run, case: Case, node: _Node, children: list[NodeReport], turns: int
    ) -> NodeReport:
        numbers = run.evidence.numbers.get(node.key)
        columns = [c for c, (s, _) in case.telemetry.series.items() if s == node.service]
        payload = {
            "task": "node",
            "instructions": _NODE_TASK,
            "node": node.key,
            "service": node.service,
            "depth": node.depth,
            "rank": node.rank,
            "anomaly_time": case.inject_time,
            "evidence": compact(numbers),
            "service_columns": columns[:MAX_LISTED_COLUMNS],
            "children": [r.model_dump() for r in children],
            "answer_with": {
                "node": node.key,
                "is_abnormal": "true or false",
                "finding": "at most two sentences, with numbers",
                "likely_cause": "the service that best explains this node (itself or a child's), or null",
            },
        }
        tools = offered(case, run)
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": _RULES},
            {"role": "user", "content": json.dumps(payload)},
        ]
        for turn in range(turns):
            last = turn == turns - 1
            if last and turn > 0:
                messages.append({"role": "user", "content": "No more tool calls: answer now with the JSON report."})
            message = self.endpoint.chat(client, run, messages, tools=None if last else tools)
            calls = message.get("tool_calls") or []
            if not calls:
                return self._report(run, node, message.get("content"))
            if last:
                raise Fallback("budget_exhausted", f"the agent for {node.key} still wanted tools after {turns} calls")
            messages.append({"role": "assistant", "content": message.get("content"), "tool_calls": calls})
            for i, call in enumerate(calls):
                skip = i >= MAX_TOOL_CALLS_PER_TURN
                messages.append(
                    tool_message(
                        run, case, node.key, node.service, call, skip=skip, max_chars=self.max_tool_result_chars
                    )
                )
        raise Fallback("budget_exhausted", f"no call left for the agent of {node.key}")

    def _report(self, run: Run, node: _Node, content: object) -> NodeReport:
        data = parse_object(content)
        abnormal = data.get("is_abnormal")
        if not isinstance(abnormal, bool):
            raise Fallback("malformed_output", f"the report of {node.key} lacks a boolean 'is_abnormal'")
        finding = text_field(data, "finding", _MAX_FINDING_CHARS)
        cause = data.get("likely_cause")
        if cause is not None and not isinstance(cause, str):
            raise Fallback("malformed_output", f"the report of {node.key} has a non-string 'likely_cause'")
        if isinstance(cause, str) and cause.strip() and not run.checker.is_service(cause):
            raise Fallback("unknown_service", f"the agent of {node.key} blamed {cause!r}, which is not in the data")
        self._check_mentions(run, finding, f"the report of {node.key}")
        report = NodeReport(
            node=node.key,
            service=node.service,
            depth=node.depth,
            is_abnormal=abnormal,
            finding=finding,
            likely_cause=cause.strip() if isinstance(cause, str) and cause.strip() else None,
        )
        run.reports.append(report)
        return report

    def _synthesis(
        self, client: httpx.Client, run: Run, ranking: Ranking, base: Explanation, root: NodeReport
    ) -> dict[str, str | None]:
        payload = {
            "task": "synthesis",
            "instructions": _SYNTHESIS_TASK,
            "ranking": [
                {"rank": n.rank, "service": n.service, "metric": n.metric, "score": float(f"{n.score:.4g}")}
                for n in base.candidates
            ],
            "facts": {
                "root_cause": base.root_cause.text if base.root_cause else None,
                "first_symptom": base.first_symptom.text,
                "impact": base.impact.text,
            },
            "root_report": root.model_dump(),
            "reports": [r.model_dump() for r in run.reports],
            "services": sorted(run.checker.services)[:MAX_LISTED_SERVICES],
            "answer_with": {
                "summary": "three sentences: root cause, first symptom, impact",
                "root_cause": "text",
                "first_symptom": "text",
                "impact": "text",
                "disagreement": "text or null",
            },
        }
        messages = [
            {"role": "system", "content": _RULES},
            {"role": "user", "content": json.dumps(payload)},
        ]
        message = self.endpoint.chat(client, run, messages, tools=None)
        if message.get("tool_calls"):
            raise Fallback("malformed_output", "the synthesis answered with tool calls instead of the narrative")
        data = parse_object(message.get("content"))
        limit = _MAX_NARRATIVE_CHARS
        narrative: dict[str, str | None] = {
            key: text_field(data, key, limit) for key in ("summary", "root_cause", "first_symptom", "impact")
        }
        note = data.get("disagreement")
        narrative["disagreement"] = note.strip()[:limit] if isinstance(note, str) and note.strip() else None
        for key, text in narrative.items():
            if text is not None:
                self._check_mentions(run, text, f"the synthesis's {key!r}")
        top = ranking.candidates[0].service
        root_text = narrative["root_cause"] or ""
        if not re.search(rf"(?<![\w-]){re.escape(top.lower())}(?![\w-])", root_text.lower()):
            raise Fallback("ranking_contradicted", f"the root-cause narrative does not name the top candidate {top!r}")
        return narrative

    @staticmethod
    def _check_mentions(run: Run, text: str, where: str) -> None:
        unknown = run.checker.unknown(text)
        if unknown:
            raise Fallback("unknown_service", f"{where} names {', '.join(unknown)}, not in the data")
