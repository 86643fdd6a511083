"""Failed sign-ins are counted per client address and per name; too many close the door a while.

Counting per name stops guessing one reviewer's password from many addresses; per address
stops one client trying many names. The tables are bounded (oldest entries go first), so a
flood of names cannot grow memory.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class LoginLimit:
    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 15 * 60,
        table_limit: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.max_failures, self.window_s, self.table_limit, self.clock = max_failures, window_s, table_limit, clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        cutoff = self.clock() - self.window_s
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, address: str, name: str) -> float:
        """Seconds until a sign-in may be tried again; 0 when it may be tried now."""
        wait = 0.0
        for key in (f"addr:{address}", f"name:{name}"):
            times = self._recent(key)
            if len(times) >= self.max_failures:
                wait = max(wait, times[0] + self.window_s - self.clock())
        return wait

    def failed(self, address: str, name: str) -> None:
        now = self.clock()
        for key in (f"addr:{address}", f"name:{name}"):
            times = self._failures.setdefault(key, deque(maxlen=self.max_failures))
            times.append(now)
            self._failures.move_to_end(key)
        while len(self._failures) > self.table_limit:
            self._failures.popitem(last=False)

    def succeeded(self, name: str) -> None:
        self._failures.pop(f"name:{name}", None)
