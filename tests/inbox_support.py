"""Helpers for tests that write wire files: the reader leaves young files for the next read."""

from __future__ import annotations

import os
import time
from pathlib import Path


def settle(*paths: Path, age: float = 60.0) -> None:
    """Date each file ``age`` seconds back, as if its writer finished then.

    The folder reader does not read a file modified in the last seconds (it
    may still be being written); a test that writes a file and reads the
    folder at once says this way that the file is finished.
    """
    when = time.time() - age
    for path in paths:
        os.utime(path, (when, when), follow_symlinks=False)
