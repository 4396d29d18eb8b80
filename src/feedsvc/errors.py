"""The one exception tree of feedsvc.

Each error also subclasses the builtin it resembles, so callers that only know
Python (``except ValueError``, ``except LookupError``) still catch it. Stages
raise these; ``ingest`` turns a SourceError into a result value so one bad
source never stops the others, and the command line maps the tree to exit codes.
"""

from __future__ import annotations

from datetime import timedelta


class FeedsvcError(Exception):
    """Base of every error feedsvc raises on purpose."""


class ConfigError(FeedsvcError, ValueError):
    """A setting or the catalogue is invalid; ``problems`` lists every finding."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems or (message,)


class SourceError(FeedsvcError):
    """One source could not be refreshed; the others go on."""


class FetchError(SourceError, OSError):
    """The source's bytes could not be had: network, HTTP status, limits, policy."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        retry_after: timedelta | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class InvalidUrlError(FeedsvcError, ValueError):
    """A URL feedsvc will not fetch (see ``feedsvc.urls.http_url``); the message says why."""


class BlockedAddressError(FetchError):
    """The URL's scheme or the address it resolves to is not allowed."""


class TooLargeError(FetchError):
    """The body (counted after decompression) passed the size cap."""


class ParseError(SourceError, ValueError):
    """The bytes are not a feed or a wire article that can be read."""


class NotFound(FeedsvcError, LookupError):
    """A desk, topic, source, feed or article that does not exist."""


class StoreError(FeedsvcError, RuntimeError):
    """The database refused or could not be reached."""


class ValidationError(ConfigError):
    """A request to change a source is invalid; ``field`` names the part at fault.

    The admin API answers it as ``400 {"error": …, "field": …}`` and the command
    line as one line, so both say which field to fix.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Conflict(FeedsvcError):
    """The change clashes with what exists: a taken id, a source the catalogue file manages."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
