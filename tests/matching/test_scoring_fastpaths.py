"""The read path's shortcuts give exactly what the general code gives (old vs new on random data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.blocks import SKILL_COLUMNS, SkillsBlock
from matching.core.columns import N_TERMS
from matching.core.config import RankerConfig
from matching.core.scoring import Scorer, as_term_offsets
from tests.support.factories import cohort
from tests.support.factories import hashing_index as build


def _grouped(scorer: Scorer, tz_a: np.ndarray, tz_b: np.ndarray) -> np.ndarray:
    """The general path of ``pair_timezone`` (grouped by distinct query offsets)."""
    tz_a, tz_b = as_term_offsets(tz_a), np.asarray(tz_b, dtype=np.float32)
    out = np.zeros(len(tz_a), dtype=np.float32)
    values, inverse = np.unique(tz_a, axis=0, return_inverse=True)
    for i, value in enumerate(values):
        sel = inverse.reshape(-1) == i
        out[sel] = scorer.timezone_term(value[None, :], tz_b[sel])[0]
    return out


@pytest.mark.parametrize("seed", range(5))
def test_pair_timezone_one_query_equals_grouped(seed: int) -> None:
    scorer = Scorer(build(cohort(6, 6, seed)), RankerConfig())
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    tz_b = (rng.integers(-48, 56, size=(n, N_TERMS)) / 4).astype(np.float32)
    one = np.repeat((rng.integers(-48, 56, size=(1, N_TERMS)) / 4).astype(np.float32), n, axis=0)
    many = (rng.integers(-48, 56, size=(n, N_TERMS)) / 4).astype(np.float32)
    for tz_a in (one, many):
        assert np.array_equal(scorer.pair_timezone(tz_a, tz_b), _grouped(scorer, tz_a, tz_b))
    assert scorer.pair_timezone(one[:0], tz_b[:0]).shape == (0,)


@pytest.mark.parametrize("seed", range(5))
def test_skills_block_numeric_shortcut_equals_to_numeric(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 20))
    ints = pd.DataFrame(rng.integers(0, 4, size=(n, len(SKILL_COLUMNS))), columns=list(SKILL_COLUMNS))
    floats = ints.astype(np.float32).mask(rng.random(ints.shape) < 0.2)
    mixed = ints.astype(object)
    mixed.iloc[0, 0] = "x"  # not numeric: the general path (coerced to 0)
    block = SkillsBlock().fit(ints)
    for frame in (ints, floats, mixed):
        before = frame.copy()
        expect = frame.apply(pd.to_numeric, errors="coerce").fillna(0.0).to_numpy(np.float32)
        norms = np.linalg.norm(expect, axis=1, keepdims=True)
        expect = np.divide(expect, norms, out=np.zeros_like(expect), where=norms > 0)
        assert np.allclose(block.transform(frame), expect, atol=1e-7)
        pd.testing.assert_frame_equal(frame, before)  # the caller's frame is not touched
