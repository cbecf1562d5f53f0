"""One cache for computed responses: bounded, aged, versioned, computed once at a time."""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from starlette.concurrency import run_in_threadpool

K = TypeVar("K")
V = TypeVar("V")


class Cache(Generic[K, V]):
    """Values by key, each reused while it is young enough and its version is current.

    Parameters
    ----------
    size
        Entries kept; the least recently used goes first.
    max_age
        Seconds a value is reused (``inf``: until evicted or its version changes). While one request
        recomputes an old value, others are served the old value rather than wait.

    Notes
    -----
    A *version* is a number the owner of the data increases on every change it knows of (e.g.
    :attr:`rca.store.records.Records.analyses_version`): a value computed under another version is
    never served. Values that never change (finished analyses) use the default version 0.
    """

    def __init__(self, size: int, *, max_age: float = math.inf) -> None:
        self.size = size
        self.max_age = max_age
        self._items: OrderedDict[K, tuple[int, float, V]] = OrderedDict()
        self._computing = asyncio.Lock()

    def get(self, key: K, *, version: int = 0, stale_ok: bool = False) -> V | None:
        """The value of ``key`` if its version is ``version`` and it is young enough (or ``stale_ok``)."""
        item = self._items.get(key)
        if item is None or item[0] != version:
            return None
        if not stale_ok and time.monotonic() - item[1] > self.max_age:
            return None
        self._items.move_to_end(key)
        return item[2]

    def put(self, key: K, value: V, *, version: int = 0) -> None:
        """Keep ``value`` for ``key``, computed under ``version``."""
        self._items[key] = (version, time.monotonic(), value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    async def get_or_compute(self, key: K, compute: Callable[[], V], *, version: Callable[[], int] = lambda: 0) -> V:
        """The value of ``key``, computed by ``compute`` (in a worker thread) when none is usable.

        One computation runs at a time; requests that arrive meanwhile get the previous value when
        its version is still current, else wait for the computation.
        """
        value = self.get(key, version=version(), stale_ok=self._computing.locked())
        if value is not None:
            return value
        async with self._computing:
            value = self.get(key, version=version())
            if value is None:
                current = version()  # taken before computing: a change during the computation shows next time
                value = await run_in_threadpool(compute)
                self.put(key, value, version=current)
            return value
