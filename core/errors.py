"""The service's error hierarchy.

It lives in the lowest layer so that every layer above can raise and catch the same classes;
`service` maps them to HTTP status codes in one place and the CLI to one-line messages.
"""

from __future__ import annotations


class NasError(Exception):
    """Base class of every error the service raises on purpose."""


class UnknownPluginError(NasError, KeyError):
    """A name that no registry knows (search space, evaluator, strategy, device, ...)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InvalidArchitectureError(NasError, ValueError):
    """An architecture that its search space cannot express."""


class StoreError(NasError):
    """The database failed; the original error is chained as ``__cause__``."""
