"""Errors of the matching package: one root, precise messages."""

from __future__ import annotations


class MatchingError(Exception):
    """Root of every error raised by ``matching``."""


class UnknownSchoolError(MatchingError, KeyError):
    """A school id is not in the registry."""

    def __init__(self, school_id: str) -> None:
        self.school_id = school_id
        super().__init__(school_id)

    def __str__(self) -> str:
        return f"unknown school_id {self.school_id!r}: it is not in the registry"


class DuplicateSchoolError(MatchingError, ValueError):
    """A school id is already in the registry."""

    def __init__(self, school_id: str) -> None:
        self.school_id = school_id
        super().__init__(f"school_id {school_id!r} is already in the registry")


class ConfigError(MatchingError, ValueError):
    """A configuration or request option is invalid."""


class InfeasibleError(MatchingError, ValueError):
    """A batch matching problem has no acceptable solution; the message says what to change."""
