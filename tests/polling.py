"""Waiting for another thread or process to get somewhere, without timed assertions."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, every: float = 0.2) -> Any:
    """Poll until ``condition`` is truthy; the timeout only bounds a hang, it is not a goal."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except OSError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(every)
