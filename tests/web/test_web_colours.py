"""Issue 13: score-bar colours a colour-blind reader can tell apart (Okabe-Ito palette, checked by simulating
protanopia, deuteranopia and tritanopia, Machado et al. 2009, and measuring CIEDE2000 differences)."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from matching.core.config import COMPONENTS
from service.web.routes import STATIC_DIR
from service.web.views import DEDUCTIONS
from tests.web.colour_vision import MACHADO, VISIONS, ciede2000, difference, hex_to_linear, simulate

# Okabe & Ito (2008), "Color Universal Design": black, orange, sky blue, bluish green, yellow, blue, vermillion,
# reddish purple.
OKABE_ITO = {"#000000", "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7"}
MIN_NEIGHBOURS = 20.0  # CIEDE2000 between parts side by side in the bar, for every kind of vision
MIN_ANY_PAIR = 10.0  # between any two parts (a part scoring 0 leaves its two neighbours side by side)


def bar_colours() -> dict[str, str]:
    """Each score component's colour as page.css sets it (``--c-<component>``)."""
    css = (STATIC_DIR / "page.css").read_text("utf-8")
    found = dict(re.findall(r"--c-([a-z_]+):\s*(#[0-9a-fA-F]{6})\s*;", css))
    return {c: found[c].lower() for c in COMPONENTS if c in found}


def test_ciede2000_matches_sharma_reference_pairs() -> None:
    """Pairs 1, 7, 17 and 24 of Sharma, Wu & Dalal's CIEDE2000 test data."""
    pairs = [
        ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
        ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
        ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
        ((50.0, 2.5, 0.0), (50.0, 0.0, -2.5), 4.3065),
    ]
    for lab1, lab2, expected in pairs:
        assert ciede2000(lab1, lab2) == pytest.approx(expected, abs=1e-4)


def test_machado_simulation_keeps_greys_and_merges_what_it_should() -> None:
    for matrix in MACHADO.values():
        assert np.allclose(matrix.sum(axis=1), 1.0, atol=1e-3)  # white stays white, greys stay grey
    # the classic confusion: red and green look far apart normally, alike without red or green cones
    assert difference("#d62728", "#2ca02c", "normal") > 60
    assert difference("#d62728", "#2ca02c", "deuteranopia") < 25
    assert np.allclose(simulate(hex_to_linear("#808080"), "tritanopia"), hex_to_linear("#808080"), atol=1e-3)


def test_score_bar_colours_stay_apart_under_colour_blindness() -> None:
    colours = bar_colours()
    drawn = [c for c in COMPONENTS if c not in DEDUCTIONS]  # parts that only take points off are never drawn
    assert set(colours) == set(drawn), "page.css gives every drawn score component a colour"
    assert set(colours.values()) <= OKABE_ITO and len(set(colours.values())) == len(drawn)
    order = [colours[c] for c in drawn]  # the bar draws the parts in this order
    for vision in VISIONS:
        for (c1, x1), (c2, x2) in itertools.pairwise(zip(drawn, order, strict=True)):
            d = difference(x1, x2, vision)
            assert d >= MIN_NEIGHBOURS, f"{c1} and {c2} look alike under {vision}: CIEDE2000 {d:.1f}"
        for (c1, x1), (c2, x2) in itertools.combinations(zip(drawn, order, strict=True), 2):
            d = difference(x1, x2, vision)
            assert d >= MIN_ANY_PAIR, f"{c1} and {c2} look alike under {vision}: CIEDE2000 {d:.1f}"
