"""A per-host limit on work running at once, shared by the fetch pool and the hub's calls.

One slow or dead host must not hold every thread: a slot of its host is taken
before a fetch or a WebSub call starts and given back when it ends, and work
for a host with no free slot waits (the scheduler puts a source back, the hub
leaves a host's calls unclaimed).
"""

from __future__ import annotations

import threading


class HostSlots:
    """At most ``per_host`` slots taken per host at a time. Thread-safe."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self._taken: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, host: str) -> bool:
        """Take one of ``host``'s slots; False, taking nothing, when all are taken."""
        with self._lock:
            taken = self._taken.get(host, 0)
            if taken >= self.per_host:
                return False
            self._taken[host] = taken + 1
            return True

    def give(self, host: str) -> None:
        """Give back a slot that ``take`` gave."""
        with self._lock:
            left = self._taken[host] - 1
            if left:
                self._taken[host] = left
            else:
                del self._taken[host]

    def free(self, host: str) -> int:
        """How many of ``host``'s slots are free now."""
        with self._lock:
            return self.per_host - self._taken.get(host, 0)

    def full(self) -> set[str]:
        """The hosts with no free slot now."""
        with self._lock:
            return {host for host, taken in self._taken.items() if taken >= self.per_host}
