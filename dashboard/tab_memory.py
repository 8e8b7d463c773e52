"""What one browser tab's session leaves for the session that replaces it after a reload.

A reload ends a tab's Streamlit session and starts a new one with empty state.
Each session keeps what it would lose (see ``dashboard.state``) here, under a
random token that only its tab knows (kept in the tab's sessionStorage by
``dashboard.tab_token``: it survives a reload of that tab, is not shared with
other tabs, and never appears in a URL). The session after the reload reports
the token and takes the things back.

The memory is this server process's own: bounded in entries, each expiring a
while after its last change, safe to use from every session's script thread.
Nothing here touches Streamlit.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_TABS = 128  # tabs remembered at once: a class of 30 reloading a few times each fits
FORGET_AFTER_SECONDS = 3600.0  # a reload comes within seconds; a lesson's break is shorter than this


class TabMemory(Generic[T]):
    """One value per tab token; the least recently kept is dropped beyond ``max_tabs``,
    and a value not kept again for ``forget_after`` seconds is gone."""

    def __init__(self, max_tabs: int = MAX_TABS, forget_after: float = FORGET_AFTER_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_tabs < 1:
            raise ValueError(f"max_tabs must be at least 1; got {max_tabs}")
        self.max_tabs = max_tabs
        self.forget_after = forget_after
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, tuple[float, T]] = OrderedDict()  # oldest change first

    def keep(self, token: str, value: T) -> None:
        """Remember ``value`` for the tab ``token``, replacing what it kept before."""
        with self._lock:
            self._kept.pop(token, None)
            self._kept[token] = (self._clock(), value)
            self._drop_old()

    def recall(self, token: str) -> T | None:
        """What the tab ``token`` kept, or None (never kept, forgotten, or expired)."""
        with self._lock:
            self._drop_old()
            kept = self._kept.get(token)
            return None if kept is None else kept[1]

    def forget(self, token: str) -> None:
        with self._lock:
            self._kept.pop(token, None)

    def __len__(self) -> int:
        with self._lock:
            self._drop_old()
            return len(self._kept)

    def _drop_old(self) -> None:
        """Drop expired values, then the oldest beyond the bound (under the lock)."""
        deadline = self._clock() - self.forget_after
        while self._kept and (len(self._kept) > self.max_tabs or next(iter(self._kept.values()))[0] <= deadline):
            self._kept.popitem(last=False)


_server_memory: TabMemory = TabMemory()


def server_memory() -> TabMemory:
    """This server process's memory of its tabs, shared by every session (each reads only its own token)."""
    return _server_memory
