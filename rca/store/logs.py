"""Log records in the store: counts per service, template and time bucket, and a few raw lines each.

Tables (in :mod:`rca.store.schema`, created with the others):

* ``log_templates``: one row per ``(service, template_key, level)`` (a *log stream*), with an
  integer id. ``key_hash`` (BLAKE2b of the three) is the unique key, so template keys of any length
  fit PostgreSQL's index limits.
* ``log_counts``: ``(template_id, bucket) -> count``; ``bucket`` is the start (Unix seconds) of a
  ``bucket_seconds`` wide interval. Writes add to the count and keep the first and last record's time.
* ``log_times``: every record's time, in microseconds after its bucket's start (:func:`format_times`),
  one row per write and count row (append-only: a busy stream's write costs its own records, never a
  rewrite of the times before). A window read back (:meth:`LogStore.read_logs`) so has each record at
  its own time, and the log signal of a stored window is the offline case's wherever the analysis
  splits it (the anomaly time, the baseline's guard, its normal periods). It costs about 11 bytes per
  record on disk: one-second buckets, which come close, made five times the count rows on Train
  Ticket's logs and would change the width the detector's log feed scores.
* ``log_samples``: the first :attr:`LogStore.samples_per_hour` lines of each stream per hour (time,
  message, trace and span ids), the evidence an analysis shows.
* ``log_offsets``: per Kafka topic and partition, the next offset not yet counted. It is updated in
  the same transaction as the counts, so a message the broker delivers again (a worker crashed
  after its write and before its offset commit, or a rebalance moved the partition) is recognised
  and not counted twice. Concurrent workers serialise on these rows (``SELECT ... FOR UPDATE`` on
  PostgreSQL; SQLite has one writer at a time).

Counts are additive, so unlike points and spans they cannot be made idempotent by their own key;
the offset ledger is what makes at-least-once delivery count every record once. A producer that
publishes the same records twice (two replays of one case) is counted twice, as a log pipeline
would show them twice.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection

from rca.store.log_reads import LogReads
from rca.store.schema import log_counts, log_offsets, log_samples, log_templates, log_times

if TYPE_CHECKING:
    from rca.store.store import Store

DEFAULT_BUCKET_SECONDS = 60.0
"""Width of a count bucket when none is configured (``RCA_LOG_BUCKET_SECONDS``)."""

DEFAULT_SAMPLES_PER_HOUR = 5
"""Raw lines kept per log stream and hour."""

MAX_SAMPLE_CHARS = 4000
"""A kept line is cut to this many characters."""


class LogRecord(NamedTuple):
    """One log record: its stream ``(service, template_key, level)``, time and line.

    :meth:`LogStore.write` takes these or plain tuples of their shape (what the ingest decoders yield).
    """

    service: str
    ts: float
    level: str
    template_key: str
    message: str
    trace_id: str
    span_id: str


LogRecordLike = LogRecord | tuple[str, float, str, str, str, str, str]
"""What :meth:`LogStore.write` takes as a record: a :class:`LogRecord` or a tuple of its shape."""


@dataclass(frozen=True)
class LogMessage:
    """The records of one Kafka message and where it came from (for the offset ledger)."""

    topic: str
    partition: int
    offset: int
    records: Sequence[LogRecordLike]


@dataclass(frozen=True)
class LogWriteResult:
    """What one :meth:`LogStore.write` did."""

    records: int
    """Records counted."""
    by_topic: dict[str, int]
    """Records counted per Kafka topic."""
    duplicates: int
    """Records of messages counted before (delivered again), not counted again."""
    new_templates: int
    samples: int
    """Raw lines kept."""


_STREAM = operator.itemgetter(0, 3, 2)  # a record's (service, template_key, level)
_TIME = operator.itemgetter(1)


def _key_hash(service: str, template_key: str, level: str) -> str:
    return hashlib.blake2b(f"{service}\x00{level}\x00{template_key}".encode(), digest_size=16).hexdigest()


class LogStore(LogReads):
    """Write and read log counts and samples in a :class:`rca.store.Store` (SQLite or PostgreSQL).

    Parameters
    ----------
    store
        The store whose database and write lock are used.
    bucket_seconds
        Width of a count bucket. Choose it once per store: reads re-aggregate stored buckets to the
        requested step, so a step that is a multiple of it reads exactly.
    samples_per_hour
        Raw lines kept per log stream and hour.
    """

    def __init__(
        self,
        store: Store,
        *,
        bucket_seconds: float = DEFAULT_BUCKET_SECONDS,
        samples_per_hour: int = DEFAULT_SAMPLES_PER_HOUR,
    ) -> None:
        if not bucket_seconds > 0:
            raise ValueError(f"bucket_seconds must be positive, got {bucket_seconds}")
        self.store = store
        self.bucket_seconds = float(bucket_seconds)
        self.samples_per_hour = int(samples_per_hour)
        self._ids: dict[tuple[str, str, str], int] = {}
        self._full: set[tuple[int, float]] = set()  # (template id, hour) with all sample slots taken

    def _insert(self, table: sa.Table) -> sqlite_dialect.Insert | pg_dialect.Insert:
        return sqlite_dialect.insert(table) if self.store.dialect == "sqlite" else pg_dialect.insert(table)

    # ----------------------------------------------------------------- write
    def write(self, messages: Sequence[LogMessage]) -> LogWriteResult:
        """Count the records of ``messages`` and keep samples, in one durable transaction.

        Messages at or past their partition's ledger offset are counted and the ledger moves past
        them; earlier ones were counted before and are skipped.

        Raises
        ------
        sqlalchemy.exc.SQLAlchemyError
            When the database fails; nothing of the batch is stored then.
        """
        with self.store.transaction() as conn:
            fresh, duplicates, next_offsets = self._claim(conn, messages)
            records = [r for m in fresh for r in m.records]
            new_ids: dict[tuple[str, str, str], int] = {}
            samples, full = 0, set[tuple[int, float]]()
            if records:
                # Each record's stream id and time (C-level loops; the streams are not kept, which would
                # cost garbage collections), then numpy does the counting.
                ids, new_ids = self._ensure_templates(conn, set(map(_STREAM, records)))
                tids = np.fromiter(map(ids.__getitem__, map(_STREAM, records)), dtype=np.int64, count=len(records))
                ts = np.fromiter(map(_TIME, records), dtype=np.float64, count=len(records))
                self._add_counts(conn, count_rows(tids, ts, self.bucket_seconds))
                if self.samples_per_hour > 0:
                    candidates = {
                        slot: [records[i] for i in first]
                        for slot, first in first_per_hour(tids, ts, self.samples_per_hour)
                        if slot not in self._full
                    }
                    samples, full = self._add_samples(conn, candidates)
            if next_offsets:
                conn.execute(
                    sa.update(log_offsets)
                    .where(log_offsets.c.topic == sa.bindparam("t"), log_offsets.c.partition == sa.bindparam("p"))
                    .values(next_offset=sa.bindparam("n")),
                    [{"t": t, "p": p, "n": n} for (t, p), n in sorted(next_offsets.items())],
                )
        # Remember ids and full sample slots only once the transaction that made them has committed.
        self._ids.update(new_ids)
        self._full.update(full)
        by_topic: dict[str, int] = {}
        for m in fresh:
            by_topic[m.topic] = by_topic.get(m.topic, 0) + len(m.records)
        return LogWriteResult(len(records), by_topic, duplicates, len(new_ids), samples)

    def _claim(
        self, conn: Connection, messages: Sequence[LogMessage]
    ) -> tuple[list[LogMessage], int, dict[tuple[str, int], int]]:
        """Messages not counted yet, records skipped as counted before, and the ledger's new offsets."""
        partitions = sorted({(m.topic, m.partition) for m in messages})
        if not partitions:
            return [], 0, {}
        conn.execute(
            self._insert(log_offsets).on_conflict_do_nothing(index_elements=["topic", "partition"]),
            [{"topic": t, "partition": p, "next_offset": 0} for t, p in partitions],
        )
        query = sa.select(log_offsets.c.topic, log_offsets.c.partition, log_offsets.c.next_offset).where(
            sa.tuple_(log_offsets.c.topic, log_offsets.c.partition).in_(partitions)
        )
        if self.store.dialect == "postgresql":
            query = query.with_for_update()  # a second worker on this partition waits, then sees our offsets
        query = query.order_by(log_offsets.c.topic, log_offsets.c.partition)
        ledger = {(t, p): int(n) for t, p, n in conn.execute(query)}
        fresh, duplicates = [], 0
        moved: dict[tuple[str, int], int] = {}
        for message in messages:
            key = (message.topic, message.partition)
            if message.offset < max(ledger[key], moved.get(key, 0)):
                duplicates += len(message.records)
                continue
            fresh.append(message)
            moved[key] = message.offset + 1
        return fresh, duplicates, moved

    def _ensure_templates(
        self, conn: Connection, streams: Iterable[tuple[str, str, str]]
    ) -> tuple[dict[tuple[str, str, str], int], dict[tuple[str, str, str], int]]:
        ids, missing = {}, []
        for stream in streams:
            tid = self._ids.get(stream)
            if tid is None:
                missing.append(stream)
            else:
                ids[stream] = tid
        if not missing:
            return ids, {}
        hashes = {_key_hash(*s): s for s in missing}
        conn.execute(
            self._insert(log_templates).on_conflict_do_nothing(index_elements=["key_hash"]),
            [{"key_hash": h, "service": s, "template_key": k, "level": lv} for h, (s, k, lv) in sorted(hashes.items())],
        )
        found = conn.execute(
            sa.select(log_templates.c.key_hash, log_templates.c.id).where(log_templates.c.key_hash.in_(list(hashes)))
        ).all()
        new = {hashes[h]: int(tid) for h, tid in found}
        ids.update(new)
        return ids, new

    def _add_counts(self, conn: Connection, rows: list[CountRow]) -> None:
        """Add ``rows`` (sorted by template id and bucket: one lock order for concurrent workers) and append
        their records' times."""
        counts = [row[:5] for row in rows]
        if self.store.dialect == "sqlite":
            conn.exec_driver_sql(
                "INSERT INTO log_counts (template_id, bucket, count, first_ts, last_ts) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (template_id, bucket) DO UPDATE SET count = log_counts.count + excluded.count, "
                "first_ts = min(coalesce(log_counts.first_ts, excluded.first_ts), excluded.first_ts), "
                "last_ts = max(coalesce(log_counts.last_ts, excluded.last_ts), excluded.last_ts)",
                counts,
            )
        else:
            conn.exec_driver_sql(
                "INSERT INTO log_counts (template_id, bucket, count, first_ts, last_ts) "
                "SELECT * FROM unnest(%s::integer[], %s::float8[], %s::bigint[], %s::float8[], %s::float8[]) "
                "ON CONFLICT (template_id, bucket) DO UPDATE SET count = log_counts.count + EXCLUDED.count, "
                "first_ts = LEAST(log_counts.first_ts, EXCLUDED.first_ts), "
                "last_ts = GREATEST(log_counts.last_ts, EXCLUDED.last_ts)",
                tuple(list(column) for column in zip(*counts, strict=True)),
            )
        conn.execute(
            sa.insert(log_times), [{"template_id": t, "bucket": b, "times": times} for t, b, *_, times in rows]
        )

    def _add_samples(
        self, conn: Connection, candidates: dict[tuple[int, float], list[LogRecordLike]]
    ) -> tuple[int, set[tuple[int, float]]]:
        """Keep the first lines of each (stream, hour) in its free slots; slots taken elsewhere stay."""
        open_slots = {k: v for k, v in candidates.items() if k not in self._full}
        if not open_slots or self.samples_per_hour <= 0:
            return 0, set()
        t = log_samples
        taken: dict[tuple[int, float], int] = {}
        keys = sorted(open_slots)
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            query = (
                sa.select(t.c.template_id, t.c.hour, sa.func.count())
                .where(sa.tuple_(t.c.template_id, t.c.hour).in_(chunk))
                .group_by(t.c.template_id, t.c.hour)
            )
            taken.update({(int(tid), float(hour)): int(n) for tid, hour, n in conn.execute(query)})
        rows, full = [], set()
        for key in keys:
            start = taken.get(key, 0)
            for seq, record in enumerate(open_slots[key][: max(0, self.samples_per_hour - start)], start=start):
                _service, ts, _level, _key, message, trace_id, span_id = record
                rows.append(
                    {
                        "template_id": key[0],
                        "hour": key[1],
                        "seq": seq,
                        "ts": ts,
                        "message": message[:MAX_SAMPLE_CHARS],
                        "trace_id": trace_id,
                        "span_id": span_id,
                    }
                )
            if start + len(open_slots[key]) >= self.samples_per_hour:
                full.add(key)
        if rows:
            stmt = self._insert(t).on_conflict_do_nothing(index_elements=["template_id", "hour", "seq"])
            conn.execute(stmt, rows)
        return len(rows), full


CountRow = tuple[int, float, int, float, float, str]
"""A ``log_counts`` row to add: template id, bucket, count, first and last record time, the records' times."""


def count_rows(template_ids: np.ndarray, times: np.ndarray, width: float) -> list[CountRow]:
    """The ``log_counts`` rows of a batch: per template id and ``width``-wide bucket, sorted by both.

    Each row holds the bucket's count, its first and last record's time and every record's time
    (:func:`format_times`, in time order).
    """
    order = np.lexsort((times, template_ids))
    tids, ts = template_ids[order], times[order]
    bucket = np.floor(ts / width) * width
    new_cell = np.ones(len(ts), dtype=bool)
    new_cell[1:] = (tids[1:] != tids[:-1]) | (bucket[1:] != bucket[:-1])
    cell_at = np.flatnonzero(new_cell)
    cell_end = np.append(cell_at[1:], len(ts))
    offsets = format_times(ts - bucket)
    texts = [",".join(offsets[a:b]) for a, b in zip(cell_at.tolist(), cell_end.tolist(), strict=True)]
    return list(
        zip(
            tids[cell_at].tolist(),
            bucket[cell_at].tolist(),
            (cell_end - cell_at).tolist(),
            ts[cell_at].tolist(),
            ts[cell_end - 1].tolist(),
            texts,
            strict=True,
        )
    )


def format_times(offsets: np.ndarray) -> list[str]:
    """Seconds after a bucket's start as whole microseconds, the items of ``log_times.times`` (joined by commas)."""
    return list(map(str, np.rint(offsets * 1e6).astype(np.int64).tolist()))


def first_per_hour(
    template_ids: np.ndarray, times: np.ndarray, limit: int
) -> Iterator[tuple[tuple[int, float], list[int]]]:
    """``((template id, hour), indices)``: the first ``limit`` records (in batch order) of each stream and hour."""
    hour = np.floor(times / 3600.0) * 3600.0
    order = np.lexsort((hour, template_ids))  # stable: batch order within a stream and hour
    tids, hours = template_ids[order], hour[order]
    new_slot = np.ones(len(order), dtype=bool)
    new_slot[1:] = (tids[1:] != tids[:-1]) | (hours[1:] != hours[:-1])
    slot_at = np.flatnonzero(new_slot)
    slot_end = np.append(slot_at[1:], len(order))
    ends = np.minimum(slot_end, slot_at + limit).tolist()
    indices = order.tolist()
    for start, end, tid, h in zip(slot_at.tolist(), ends, tids[slot_at].tolist(), hours[slot_at].tolist(), strict=True):
        yield (tid, h), indices[start:end]


def purge(conn: Connection, before: float) -> dict[str, int]:
    """Delete log counts and times of buckets starting before ``before`` and samples older than it (in ``conn``)."""
    counts = conn.execute(sa.delete(log_counts).where(log_counts.c.bucket < before)).rowcount
    times = conn.execute(sa.delete(log_times).where(log_times.c.bucket < before)).rowcount
    samples = conn.execute(sa.delete(log_samples).where(log_samples.c.ts < before)).rowcount
    return {"log_counts": int(counts or 0), "log_times": int(times or 0), "log_samples": int(samples or 0)}


def newest_log_bucket(conn: Connection) -> float | None:
    """The start of the newest stored log bucket, or ``None``."""
    value = conn.execute(sa.select(sa.func.max(log_counts.c.bucket))).scalar_one()
    return None if value is None else float(value)
