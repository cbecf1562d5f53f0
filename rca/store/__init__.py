"""The embedded telemetry store (SQLite, WAL) and its PostgreSQL option, one interface."""

from rca.store.engine import DEFAULT_FILENAME, StoreError, default_url
from rca.store.store import DEFAULT_SPAN_STEP_SECONDS, Point, Span, Store, WriteResult, series_name

__all__ = [
    "DEFAULT_FILENAME",
    "DEFAULT_SPAN_STEP_SECONDS",
    "Point",
    "Span",
    "Store",
    "StoreError",
    "WriteResult",
    "default_url",
    "series_name",
]
