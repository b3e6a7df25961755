"""Errors liuliang raises on purpose.

Every error a user can cause carries enough context to fix it without a traceback: the CLI prints
``str(error)`` as one line and keeps the traceback for ``--debug``.
"""

from __future__ import annotations


class LiuliangError(Exception):
    """Base class: an error the user can act on (bad input, bad option, unsupported engine feature)."""


class SourceError(LiuliangError):
    """A source cannot be read as a whole: missing file, missing required column, unknown format."""


class MissingColumnError(SourceError):
    """A required column is absent. Names the column and lists the columns that were found."""

    def __init__(self, source: str, table: str, missing: list[str], found: list[str]) -> None:
        self.source, self.table, self.missing, self.found = source, table, missing, found
        super().__init__(
            f"{source}: {table} needs column(s) {', '.join(repr(m) for m in missing)}; "
            f"found {', '.join(repr(f) for f in found) or 'no columns'} "
            f"(map source columns with --map {missing[0]}=<source column>)"
        )


class RejectedRowsError(LiuliangError):
    """Raised by the CLI (not the API) when an ingest quarantined rows and rejects were not allowed."""


class WorkspaceError(LiuliangError):
    """The workspace is unusable as asked: wrong time zone for an existing workspace, unknown engine."""


class UnsupportedOperationError(LiuliangError):
    """The engine behind the workspace cannot do this; liuliang never falls back silently."""


class ModelInputError(LiuliangError, ValueError):
    """Data or options a model cannot use (negative counts, recency after T, ...); names the column and the fix.

    Also a ``ValueError`` so that code written against scikit-learn's convention catches it.
    """


class ConvergenceError(LiuliangError):
    """The optimiser stopped away from a maximum (or the likelihood is not finite); the message lists what to try."""


class NotFittedError(LiuliangError):
    """A method that needs fitted parameters was called before ``fit``."""
