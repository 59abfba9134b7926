"""Store errors the command line reports as one line with exit status 2."""

from __future__ import annotations


class StoreConfigError(ValueError):
    """A store spec or config file that cannot be used."""


class StoreUnavailableError(StoreConfigError):
    """A store that cannot be reached, opened or written (server down, read-only, busy)."""
