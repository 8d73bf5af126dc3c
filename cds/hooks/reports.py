"""The full reports the cards link to, kept in memory for a limited time under unguessable ids.

A card's "Full netcds report" link opens ``GET /reports/{id}``: the recommendation of that call,
rendered as HTML from the stored :class:`~cds.model.Recommendation` (no second evaluation). The
id is 256 random bits (:func:`secrets.token_urlsafe`), the only key to the page, so the link works
in the EHR's browser without a token; a report expires after ``ttl`` seconds and the oldest go
first beyond ``capacity``. Nothing is written to disk.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict

from cds.model import Recommendation


class ReportStore:
    """Recommendations by random id, for ``ttl`` seconds, at most ``capacity`` of them.

    Parameters
    ----------
    ttl
        Seconds a report stays available.
    capacity
        Reports kept at most (the oldest are dropped first).

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> store = ReportStore(ttl=60, capacity=2)
    >>> rec = default_engine().evaluate(parse_patient('{"tumour": {"primary_site": "pancreas"}}'), surveillance=False)
    >>> key = store.put(rec)
    >>> store.get(key) is rec, store.get("guess") is None, len(key) >= 43
    (True, True, True)
    """

    def __init__(self, ttl: float = 3600.0, capacity: int = 1000) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self._items: OrderedDict[str, tuple[float, Recommendation]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, rec: Recommendation) -> str:
        """Keep a recommendation; its new id.

        Parameters
        ----------
        rec
            The recommendation of one call.

        Returns
        -------
        str
            An unguessable URL-safe id.

        Examples
        --------
        >>> store = ReportStore(capacity=1)   # the oldest goes when the store is full
        >>> first = store.put(rec := object())
        >>> second = store.put(rec)
        >>> store.get(first) is None, store.get(second) is rec, first != second
        (True, True, True)
        """
        key = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            self._items[key] = (now + self.ttl, rec)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return key

    def get(self, key: str) -> Recommendation | None:
        """The recommendation under ``key``, or None (unknown or expired).

        Parameters
        ----------
        key
            The id from the link.

        Returns
        -------
        Recommendation or None
            The stored recommendation.

        Examples
        --------
        >>> ReportStore().get("nothing") is None
        True
        """
        with self._lock:
            self._expire(time.monotonic())
            item = self._items.get(key)
        return item[1] if item else None

    def _expire(self, now: float) -> None:
        while self._items:
            key, (until, _) = next(iter(self._items.items()))
            if until > now:
                break
            del self._items[key]
