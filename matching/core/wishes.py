"""The wishes term's pieces: how well schools meet each other's stated wishes (preferred countries or regions,
phases, kinds of work), from per-school columns; ``Scorer.wishes_raw`` combines both directions."""

from __future__ import annotations

import numpy as np

from matching.core.columns import SchoolColumns
from matching.errors import ConfigError


def combine_fits(x: np.ndarray, y: np.ndarray, how: str = "harmonic") -> np.ndarray:
    """Both directions' fits (in [0, 1]) as one reciprocal fit: harmonic mean (as RECON), geometric, mean or min."""
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.float32)
    if how == "harmonic":
        total = x + y
        return np.divide(2 * x * y, total, out=np.zeros(np.broadcast(x, y).shape, np.float32), where=total > 0)
    if how == "geometric":
        return np.sqrt(x * y)
    if how == "arithmetic":
        return (x + y) / 2
    if how == "min":
        return np.minimum(x, y)
    raise ConfigError(f"wishes_combine: {how!r} is not one of harmonic, geometric, arithmetic, min")


def wish_fit(asker: SchoolColumns, cand: SchoolColumns, a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """How well schools ``c`` (positions in ``cand``) meet the wishes of schools ``a`` (positions in ``asker``),
    broadcasting: the mean over place (preferred countries or regions), phase and kinds of work of 1 (met,
    or no wish) or 0."""
    wc, wa = asker.wish_countries[a], asker.wish_areas[a]
    code = cand.country_code[c].astype(np.int64)
    word, bit = np.maximum(code, 0) // 64, (np.maximum(code, 0) % 64).astype(np.uint64)
    in_country = ((np.take_along_axis(wc, word[..., None], axis=-1)[..., 0] >> bit) & np.uint64(1)).astype(bool)
    in_country &= code >= 0
    no_place = (wa == 0) & ~wc.any(axis=-1)
    place = no_place | in_country | ((wa & cand.area[c]) != 0)
    wp = asker.wish_phases[a]
    phase = (wp == 0) | (((wp >> cand.phase[c].astype(np.uint8)) & np.uint8(1)) != 0)
    ka, kc = asker.kinds[a], cand.kinds[c]
    kinds = (ka == 0) | (kc == 0) | ((ka & kc) != 0)
    return (place.astype(np.float32) + phase + kinds) / np.float32(3)


def has_wishes(cols: SchoolColumns) -> np.ndarray:
    """Per school: whether it states any wish (a preferred country, region or phase, or a kind of work)."""
    return (cols.wish_areas != 0) | (cols.wish_phases != 0) | (cols.kinds != 0) | cols.wish_countries.any(axis=-1)
