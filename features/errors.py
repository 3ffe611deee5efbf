"""Errors of the features package: one root, precise messages."""

from __future__ import annotations

from dataclasses import dataclass


class FeaturesError(Exception):
    """Root of every error raised by ``features``."""


@dataclass(frozen=True)
class FieldError:
    """One bad value: where it is, what it was, and what is allowed."""

    row: int | None  # 1-based data row in the file (None for a single profile)
    school_id: str | None
    field: str
    value: object
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "profile"
        who = f" (school_id {self.school_id!r})" if self.school_id else ""
        return f"{where}{who}: {self.field}={self.value!r}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form: the value shown as text, every text encodable as UTF-8 (a lone surrogate as \\udXXX)."""
        return {
            "row": self.row,
            "school_id": None if self.school_id is None else encodable(self.school_id),
            "field": encodable(self.field),
            "value": None if self.value is None else encodable(str(self.value)[:200]),
            "message": encodable(self.message),
        }


def encodable(text: str) -> str:
    """``text`` with any lone UTF-16 surrogate (which UTF-8 cannot hold) written as a ``\\udXXX`` escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class ProfileValidationError(FeaturesError, ValueError):
    """Some profiles are invalid; ``errors`` lists every bad field of every bad row."""

    def __init__(self, errors: list[FieldError], source: str | None = None) -> None:
        self.errors = list(errors)
        self.source = source
        rows = {e.row for e in self.errors}
        head = f"{len(self.errors)} invalid value(s) in {len(rows)} row(s)"
        if source:
            head += f" of {source}"
        lines = [head + "; nothing was loaded:"] + [f"  - {e}" for e in self.errors[:200]]
        if len(self.errors) > 200:
            lines.append(f"  ... and {len(self.errors) - 200} more")
        super().__init__("\n".join(lines))


class ProfileFormatError(FeaturesError, ValueError):
    """A profile file cannot be read at all (unknown format, missing columns, broken JSON)."""


class EncoderError(FeaturesError, RuntimeError):
    """The sentence encoder cannot be loaded or used."""
