"""Request filters (countries, phases, largest time-zone difference) and the one parser the API, page and CLI use.

``parse_filters`` reads what people type (repeated or comma-separated values, any case, ``UK`` for
``GB``) and raises ``FilterError`` naming the field, the value and what is allowed. The rules a set
filter adds live in ``matching.core.rules`` (kind ``"filter"``), like every other hard rule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from features import vocab
from matching.errors import ConfigError

COUNTRY_ALIASES: dict[str, str] = {"UK": vocab.UK}  # accepted everywhere a country code is read
_HOURS = "a number of hours from 0 to 12"
_FIELD_DEFAULTS: dict[str, object] = {"countries": (), "phases": (), "max_timezone_difference": None}


class FilterError(ConfigError):
    """A request filter value is not allowed: ``field``, ``value`` and ``allowed`` say which and what would be
    (``reason``: the message without the field)."""

    def __init__(self, field: str, value: object, allowed: str, message: str | None = None) -> None:
        self.reason = message or f"{value} not allowed; use {allowed}"
        super().__init__(f"{field}: {self.reason}")
        self.field = field
        self.value = value
        self.allowed = allowed


def country_code(value: str, field: str = "countries") -> str:
    """An ISO 3166-1 alpha-2 code in upper case (``UK`` -> ``GB``); ``FilterError`` if it is not one."""
    code = value.strip().upper()
    code = COUNTRY_ALIASES.get(code, code)
    if not vocab.is_country(code):
        allowed = "ISO 3166-1 alpha-2 codes such as KE, IN or GB (UK is accepted for GB)"
        raise FilterError(field, value, allowed, f"{value} is not a country code; use {allowed}")
    return code


@dataclass(frozen=True)
class RequestFilters:
    """Narrowing a request may add on top of the configured constraints (each set field turns on one filter rule)."""

    countries: tuple[str, ...] = ()
    phases: tuple[str, ...] = ()
    max_timezone_difference: float | None = None

    def __post_init__(self) -> None:
        countries = tuple(dict.fromkeys(country_code(c) for c in self.countries))
        object.__setattr__(self, "countries", countries)
        for p in self.phases:
            if p not in vocab.PHASES:
                raise FilterError("phases", p, ", ".join(vocab.PHASES))
        object.__setattr__(self, "phases", tuple(dict.fromkeys(self.phases)))
        h = self.max_timezone_difference
        if h is not None and not 0 <= h <= 12:
            raise FilterError("max_timezone_difference", h, _HOURS)

    def is_set(self, field: str) -> bool:
        """Whether a field narrows the request."""
        return getattr(self, field) != _FIELD_DEFAULTS[field]

    def without(self, field: str) -> RequestFilters:
        """The same filters less one field (``countries``, ``phases`` or ``max_timezone_difference``)."""
        return dataclasses.replace(self, **{field: _FIELD_DEFAULTS[field]})

    @property
    def active(self) -> bool:
        """Whether any filter is set."""
        return any(self.is_set(f) for f in _FIELD_DEFAULTS)


def _values(raw: str | Iterable[str] | None) -> list[str]:
    """Repeated and/or comma-separated values, stripped, empties dropped."""
    if raw is None:
        return []
    items = [raw] if isinstance(raw, str) else list(raw)
    return [v.strip() for item in items for v in str(item).split(",") if v.strip()]


def parse_filters(
    countries: str | Iterable[str] | None = None,
    phases: str | Iterable[str] | None = None,
    max_tz: float | str | None = None,
    *,
    names: Mapping[str, str] | None = None,
) -> RequestFilters:
    """Request filters from what a person typed: the one parser of the API, the page and the CLI.

    ``countries`` and ``phases``: repeated and/or comma-separated values (country codes in any case,
    ``UK`` for ``GB``; phases as in ``vocab.PHASES``); ``max_tz``: hours (0 to 12), a number or its text,
    empty for none. ``names`` renames the fields in error messages (e.g. ``{"phases": "phase"}``).
    Raises ``FilterError``.
    """
    names = dict(names or {})
    codes = [country_code(c, names.get("countries", "countries")) for c in _values(countries)]
    phase_list = _values(phases)
    for p in phase_list:
        if p not in vocab.PHASES:
            raise FilterError(names.get("phases", "phases"), repr(p), ", ".join(vocab.PHASES))
    hours: float | None = None
    tz_field = names.get("max_timezone_difference", "max_timezone_difference")
    if isinstance(max_tz, str):
        text = max_tz.strip()
        if text:
            try:
                hours = float(text)
            except ValueError:
                raise FilterError(tz_field, repr(text), _HOURS) from None
    elif max_tz is not None:
        hours = float(max_tz)
    if hours is not None and not 0 <= hours <= 12:
        raise FilterError(tz_field, max_tz, _HOURS)
    return RequestFilters(tuple(codes), tuple(phase_list), hours)
