"""A cache of the fields an event filter last saw of each watched object.

kopf's `on.event` hands a handler the new body only. To tell whether an event changed anything
the handler cares about, the handler compares the fields it cares about with those it saw last.
This is a CACHE of watch events, not a decision: losing it (a restart) only makes the first event
of each object count as a change; entries go when their object is deleted.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

_MISSING = object()


class LastSeen:
    def __init__(self) -> None:
        self._seen: dict[Hashable, Hashable] = {}
        self._lock = threading.Lock()

    def changed(self, key: Hashable, fields: Hashable) -> bool:
        """Record `fields` for `key`; True if they differ from the last seen (or none were)."""
        with self._lock:
            old = self._seen.get(key, _MISSING)
            self._seen[key] = fields
        return old != fields

    def forget(self, key: Hashable) -> bool:
        """The object is gone: always a change for whoever watched it."""
        with self._lock:
            self._seen.pop(key, None)
        return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)
