"""Batch matching: the optimum against an integer program (scipy milp), coverage against a maximum
matching, the options, the reasons for unmatched schools, errors that say what to change."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse.csgraph import maximum_bipartite_matching

from features.profiles import SchoolProfile, validate_profile
from features.text import HashingEncoder
from matching.batch import (
    MODES,
    SOLVERS,
    Assignment,
    AssignmentOptions,
    BatchCancelled,
    SolverInput,
    assign,
    assign_profiles,
    widening_check,
)
from matching.batch.pairs import PairScorer
from matching.batch.solvers.optimal import QUICK_COVERAGE_WEIGHT, FlowNetwork, solve_optimal
from matching.core.config import COMPONENTS, RankerConfig
from matching.core.constraints import ConstraintSet, Query
from matching.core.explain import reasons_for
from matching.core.index import SchoolIndex
from matching.core.ranker import Ranker
from matching.core.scoring import term_overlap_hours
from matching.errors import ConfigError, InfeasibleError, MatchingError
from tests.support.factories import cohort
from tests.support.factories import cohort_school as school
from tests.support.factories import hashing_index as build


def run(index: SchoolIndex, **options: object) -> Assignment:
    return assign(index, options=AssignmentOptions(progress=False, **options))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def indexes() -> dict[int, SchoolIndex]:
    """Three small cohorts (different sizes and balance)."""
    return {0: build(cohort(14, 18, 0)), 1: build(cohort(20, 12, 1)), 2: build(cohort(16, 24, 2))}


# ----------------------------------------------------------------------------- independent optima
def milp_optimum(a: Assignment, want: int = 1) -> tuple[int, float]:
    """The lexicographic optimum (covered units, then total score) over the assignment's candidate graph,
    solved as two integer programs with scipy's HiGHS: max coverage, then max score at that coverage."""
    ctx = a.context
    g = ctx.graph
    n_e, n_u, n_v = g.n_edges, len(ctx.cap_uk), len(ctx.cap_abroad)
    forced_uk = np.bincount([list(g.uk_rows).index(a_row) for a_row in _rows(a, a.uk_ids[a.forced])], minlength=n_u)
    e = np.arange(n_e)
    blocks = [
        sparse.csr_matrix((np.ones(n_e), (g.src, e)), shape=(n_u, n_e + n_u)),  # UK places
        sparse.csr_matrix((np.ones(n_e), (g.dst, e)), shape=(n_v, n_e + n_u)),  # places abroad
        sparse.csr_matrix(  # y_u <= partners of u
            (
                np.concatenate([-np.ones(n_e), np.ones(n_u)]),
                (np.concatenate([g.src, np.arange(n_u)]), np.concatenate([e, n_e + np.arange(n_u)])),
            ),
            shape=(n_u, n_e + n_u),
        ),
    ]
    upper = [ctx.cap_uk, ctx.cap_abroad, np.zeros(n_u)]
    if a.options.one_per_country:
        country = np.array([str(a_) for a_ in _countries(a, g)])
        keys = sorted(set(zip(g.src.tolist(), country.tolist(), strict=True)))
        row = {k: i for i, k in enumerate(keys)}
        r = [row[k] for k in zip(g.src.tolist(), country.tolist(), strict=True)]
        blocks.append(sparse.csr_matrix((np.ones(n_e), (r, e)), shape=(len(keys), n_e + n_u)))
        upper.append(np.ones(len(keys)))
    A = sparse.vstack(blocks)
    ub = np.concatenate(upper)
    cons = [LinearConstraint(A, -np.inf, ub)]
    y_max = np.minimum(ctx.cap_uk, np.clip(want - forced_uk, 0, None))
    bounds = Bounds(np.zeros(n_e + n_u), np.concatenate([np.ones(n_e), y_max]))
    integrality = np.concatenate([np.ones(n_e), np.zeros(n_u)])
    first = milp(
        np.concatenate([np.zeros(n_e), -np.ones(n_u)]), constraints=cons, bounds=bounds, integrality=integrality
    )
    assert first.success
    coverage = round(-first.fun)
    cons.append(LinearConstraint(np.concatenate([np.zeros(n_e), np.ones(n_u)])[None, :], coverage - 1e-6, np.inf))
    second = milp(
        np.concatenate([-g.score.astype(float), np.zeros(n_u)]),
        constraints=cons,
        bounds=bounds,
        integrality=integrality,
    )
    assert second.success
    forced_score = float(a.scores[a.forced].astype(float).sum())
    return coverage + int(np.minimum(forced_uk, want).sum()), -second.fun + forced_score


def _rows(a: Assignment, ids: np.ndarray) -> list[int]:
    return [a.context.scorer.index.row(str(i)) for i in ids]


def _countries(a: Assignment, g) -> np.ndarray:  # type: ignore[no-untyped-def]
    return a.context.scorer.index.cols().country[g.intl_rows[g.dst]]


def dense(index: SchoolIndex) -> int:
    return index.n_rows  # top_k at least the cohort size: every eligible pair is in the graph


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "options",
    [{}, {"one_per_country": True, "capacity": 3}, {"min_score": 0.45}, {"capacity": 2, "min_partners": 0}],
    ids=["plain", "one-per-country", "min-score", "capacity-2"],
)
def test_optimum_equals_integer_program(indexes, seed, options) -> None:
    index = indexes[seed]
    a = run(index, top_k=dense(index), **options)
    g = a.context.graph
    assert g.n_edges == int(g.n_eligible.sum())  # the graph is complete: the milp sees every eligible pair
    coverage, total = milp_optimum(a)
    assert a.diagnostics.objective["covered_units"] == coverage
    assert a.diagnostics.total_score == pytest.approx(total, abs=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_min_partners_optimum_equals_integer_program(indexes, seed) -> None:
    index = indexes[seed]
    base = run(index, top_k=dense(index), capacity=3)
    assert base.diagnostics.n_partnerships
    try:
        a = run(index, top_k=dense(index), capacity=3, min_partners=2)
    except InfeasibleError as exc:
        assert "min_partners" in str(exc) or "partner(s)" in str(exc)
        coverage, _ = milp_optimum(base, want=2)
        assert coverage < 2 * base.diagnostics.n_uk_seeking  # the integer program cannot do it either
        return
    coverage, total = milp_optimum(a, want=2)
    assert coverage == 2 * a.diagnostics.n_uk_seeking
    assert a.diagnostics.total_score == pytest.approx(total, abs=1e-4)


@pytest.mark.parametrize("seed", [10, 11])
def test_widening_top_k_does_not_change_the_optimum(seed) -> None:
    """60 UK schools x 80 abroad, 3 places each: the default K (20) keeps about half of the eligible pairs,
    and the optimum equals the one over every eligible pair (K = 100). A narrow K (5) loses score, which
    the check reports."""
    index = build(cohort(60, 80, seed))
    check = widening_check(index, options=AssignmentOptions(top_k=20, capacity=3), factor=5)
    assert check["same"] == 1.0, check
    dense_run = run(index, top_k=dense(index), capacity=3, explain=False).diagnostics
    assert dense_run.total_score == pytest.approx(check["total_score"], abs=1e-4)
    assert (
        run(index, top_k=20, capacity=3, explain=False).diagnostics.n_candidate_edges
        < 0.7 * dense_run.n_candidate_edges
    )
    narrow = widening_check(index, options=AssignmentOptions(top_k=5, capacity=3, certify=False), factor=20)
    assert narrow["same"] == 0.0 and narrow["total_score"] < narrow["wide_total_score"]
    assert narrow["covered_units"] == narrow["wide_covered_units"]  # coverage is kept even then
    certified = widening_check(index, options=AssignmentOptions(top_k=5, capacity=3), factor=20)
    assert certified["same"] == 1.0, certified  # the pricing rounds recover what the narrow K missed


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_optimal_dominates_greedy_and_stable(indexes, seed) -> None:
    """Lexicographically (coverage, then total score); with equal coverage the optimal total is >= greedy's."""
    index = indexes[seed]
    best = run(index, capacity=2, explain=False).diagnostics
    for mode in ("greedy", "stable"):
        other = run(index, capacity=2, mode=mode, explain=False).diagnostics
        assert (best.uk_covered, best.total_score + 1e-6) >= (other.uk_covered, other.total_score)
        if best.uk_covered == other.uk_covered:
            assert best.total_score >= other.total_score - 1e-6


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coverage_is_a_maximum_matching(indexes, seed) -> None:
    """No other assignment covers more UK schools: compare with a maximum bipartite matching of UK
    schools (one slot each) to the places abroad (one slot per place)."""
    index = indexes[seed]
    a = run(index, top_k=dense(index), explain=False)
    g, cap = a.context.graph, a.context.cap_abroad
    slot_start = np.concatenate([[0], np.cumsum(cap)[:-1]])
    rows, cols = [], []
    for u, v in zip(g.src.tolist(), g.dst.tolist(), strict=True):
        for s in range(int(cap[v])):
            rows.append(u)
            cols.append(slot_start[v] + s)
    graph = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(g.uk_rows), int(cap.sum())))
    matched = maximum_bipartite_matching(graph, perm_type="column")
    assert a.diagnostics.uk_covered == int((matched >= 0).sum())


# ----------------------------------------------------------------------------- the core's masks and scores
def test_pairs_follow_the_core_constraints_and_scores(indexes) -> None:
    index = indexes[0]
    config = RankerConfig()
    a = run(index, capacity=3)
    assert len(a) > 5
    constraints = ConstraintSet(config.constraints.model_copy(update={"candidate_available": False}))
    scorer = Ranker(index, config).scorer  # fits the popularity prior as assign does (same seed, same counts)
    for uk, partner, score in zip(a.uk_ids, a.partner_ids, a.scores, strict=True):
        r_uk, r_b = index.row(uk), index.row(partner)
        query = Query.registered(index, [r_uk])
        assert constraints.allowed(index, query)[0, r_b]
        q = scorer.query_vectors(index.matrix[r_uk])
        assert scorer.scores(q, query.columns.tz_offset, np.array([r_b]))[0, 0] == pytest.approx(score, abs=1e-5)
    assert np.allclose(a.contributions.sum(axis=1), a.scores, atol=1e-5)
    assert len(a.reasons) == len(a) and all(r.sentences() for r in a.reasons)
    # each pair's reasons are the core's (the batch works out each UK school's side once for its partners)
    tz = index.cols().tz_offset
    for uk, partner, reasons in zip(a.uk_ids, a.partner_ids, a.reasons, strict=True):
        r_uk, r_b = index.row(uk), index.row(partner)
        hours = term_overlap_hours(tz[[r_uk]], tz[[r_b]], config.school_day_hours)[0]
        assert reasons == reasons_for(index.profiles[r_uk], index.profiles[r_b], hours, config.skill_threshold)
    assert len(set(a.uk_ids)) < len(a)  # some UK school has several partners


def test_pair_helpers_match_scorer(indexes) -> None:
    index = indexes[1]
    scorer = Ranker(index, RankerConfig()).scorer
    a_rows = np.array([0, 0, 1, 3, 5])
    b_rows = np.array([20, 25, 21, 22, 30])
    expect = np.stack(
        [
            scorer.contributions(scorer.query_vectors(index.matrix[a])[0], index.cols().tz_offset[a], np.array([b]))[0]
            for a, b in zip(a_rows, b_rows, strict=True)
        ]
    )
    assert np.allclose(scorer.pair_components(a_rows, b_rows), expect, atol=1e-6)
    assert np.allclose(scorer.pair_scores(a_rows, b_rows), expect.sum(axis=1), atol=1e-5)


def test_signature_masks_equal_the_constraint_set(indexes) -> None:
    """The candidate builder's grouped masks equal ``ConstraintSet.allowed`` (with filters), cell by cell."""
    index = indexes[2]
    config = RankerConfig()
    options = AssignmentOptions(countries=("FR", "KE", "IN", "US"), max_timezone_difference=5.5)
    constraints = ConstraintSet(config.constraints.model_copy(update={"candidate_available": False}), options.filters())
    cols = index.cols()
    uk, ab = np.flatnonzero(cols.is_uk), np.flatnonzero(~cols.is_uk)
    scorer = Ranker(index, config).scorer
    pairs = PairScorer(index, scorer, constraints, ab)
    allowed, scores = pairs.dense(uk)
    expect = constraints.allowed(index, Query.registered(index, uk))[:, ab]
    assert expect.any() and not expect.all()
    assert np.array_equal(allowed, expect)
    q = scorer.query_vectors(index.matrix[uk])
    assert np.allclose(scores, scorer.scores(q, cols.tz_offset[uk], ab), atol=1e-5)


# ----------------------------------------------------------------------------- options
def test_capacities_and_options_hold(indexes) -> None:
    index = indexes[2]
    a = run(index, capacity=2, min_score=0.4, one_per_country=True)
    counts = pd.Series(list(a.uk_ids) + list(a.partner_ids)).value_counts()
    for sid, n in counts.items():
        p = index.profile(str(sid))
        assert n <= max(0, 2 - len(p.current_partners))
        assert p.active
    assert (a.scores >= 0.4 - 1e-6).all()
    frame = a.to_frame()
    assert not frame.duplicated(["uk_school_id", "partner_country"]).any()


def test_forced_and_forbidden_pairs(indexes) -> None:
    index = indexes[0]
    free = run(index, capacity=2)
    drop_a, drop_b = free.pairs[0]
    # force a compatible pair the optimum did not choose (low score), forbid one it did choose
    g = free.context.graph
    chosen = set(free.pairs)
    ids = index.columns.ids
    extra = next(
        (ids[g.uk_rows[u]], ids[g.intl_rows[v]])
        for u, v in zip(g.src[::-1].tolist(), g.dst[::-1].tolist(), strict=True)
        if (ids[g.uk_rows[u]], ids[g.intl_rows[v]]) not in chosen
    )
    a = run(index, capacity=2, forced_pairs=[extra], forbidden_pairs=[(drop_b, drop_a)])
    assert extra in a.pairs
    assert a.forced[a.pairs.index(extra)] and a.forced.sum() == 1
    assert (drop_a, drop_b) not in a.pairs
    counts = pd.Series(list(a.uk_ids) + list(a.partner_ids)).value_counts()
    for sid, n in counts.items():
        assert n <= max(0, 2 - len(index.profile(str(sid)).current_partners))


def test_min_partners_met_or_explained() -> None:
    rng = random.Random(3)
    ids = [f"u{i}" for i in range(4)] + [f"k{i}" for i in range(6)]
    profiles = [
        school(
            rng, sid, uk, phase="primary", age_min=5, age_max=11, languages="en", active=True, capacity=3 if uk else 1
        )
        for sid, uk in ((sid, sid.startswith("u")) for sid in ids)
    ]
    index = build(profiles)
    plain = run(index, capacity=3)
    a = run(index, capacity=3, min_partners=2)
    partners = pd.Series(a.uk_ids).value_counts()
    assert all(partners.get(f"u{i}", 0) >= 2 for i in range(4))
    assert plain.diagnostics.uk_covered == a.diagnostics.uk_covered == 4
    assert a.diagnostics.objective["covered_units"] == 8
    with pytest.raises(
        InfeasibleError,
        match=r"4 UK schools want 3 partner\(s\) each \(12 places\) but only 6 places remain in the chosen countries: "
        "add countries, raise capacities or lower the minimum score",
    ):
        run(index, min_partners=3)
    with pytest.raises(InfeasibleError, match="have fewer places than min_partners=2"):
        run(index, capacity=1, min_partners=2)


def test_mode_names_and_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="mode: 'best' is not one of optimal, stable, greedy"):
        AssignmentOptions(mode="best")
    assert MODES == ("optimal", "stable", "greedy") == tuple(SOLVERS)
    with pytest.raises(ConfigError, match="top_k: 0 must be an integer at least 1"):
        AssignmentOptions(top_k=0)
    with pytest.raises(ConfigError, match="min_partners: only mode 'optimal'"):
        AssignmentOptions(mode="greedy", min_partners=1)
    with pytest.raises(ConfigError, match="one_per_country: not available in mode 'stable'"):
        AssignmentOptions(mode="stable", one_per_country=True)
    with pytest.raises(ConfigError, match="countries: XX"):
        AssignmentOptions(countries=("XX",))
    with pytest.raises(ConfigError, match="forced_pairs and forbidden_pairs both list"):
        AssignmentOptions(forced_pairs=[("a", "b")], forbidden_pairs=[("b", "a")])
    with pytest.raises(ConfigError, match="min_score: 'high' must be a finite number"):
        AssignmentOptions(min_score="high")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- unmatched reasons and errors
def _uk(sid: str, **kw: object) -> SchoolProfile:
    base = dict(
        school_id=sid, name=sid, country="GB", phase="primary", age_min=5, age_max=11, languages="en", capacity=1
    )
    return validate_profile({**base, **kw})


def _ab(sid: str, **kw: object) -> SchoolProfile:
    base = dict(
        school_id=sid, name=sid, country="KE", phase="primary", age_min=5, age_max=11, languages="en", capacity=1
    )
    return validate_profile({**base, **kw})


def test_unmatched_schools_get_the_reason() -> None:
    profiles = [
        _uk("welsh", languages="cy"),  # nobody abroad speaks Welsh
        _uk("sixth", phase="sixth_form", age_min=16, age_max=19),  # the only sixth form abroad is full
        _uk("busy", capacity=0),  # not taking partners
        _uk("a1", themes="sdg13_climate_action", description="climate action and recycling"),
        _uk("a2", themes="sdg13_climate_action", description="climate action and recycling"),
        _ab(
            "k1", themes="sdg13_climate_action", description="climate action and recycling"
        ),  # one place, two UK schools want it
        _ab("full", phase="sixth_form", age_min=16, age_max=19, capacity=0),
        _ab("spanish", country="ES", languages="es"),  # no UK school speaks Spanish
    ]
    index = build(profiles)
    a = run(index)
    reasons = {u.school_id: u.reason_code for u in a.unmatched}
    assert len(a) == 1 and a.pairs[0][1] == "k1"
    loser = "a2" if a.pairs[0][0] == "a1" else "a1"
    assert reasons == {
        "welsh": "no_compatible",
        "sixth": "candidates_full",
        "busy": "not_taking_partners",
        loser: "candidates_taken",
        "full": "not_taking_partners",
        "spanish": "no_compatible",
    }
    text = {u.school_id: u.reason for u in a.unmatched}
    assert text["welsh"].startswith("no compatible candidate at all")
    assert text["sixth"].startswith("all compatible candidates are full")
    with pytest.raises(InfeasibleError, match=r"below the minimum score 0.99"):
        run(index, min_score=0.99)
    threshold = float(a.scores[0]) - 1e-3  # only the best pair stays eligible
    low = run(index, min_score=threshold)
    low_reasons = {u.school_id: u.reason_code for u in low.unmatched}
    assert len(low) == 1 and low_reasons[loser] in ("below_min_score", "candidates_taken")
    assert all("best" in u.reason for u in low.unmatched if u.reason_code == "below_min_score")
    frame = a.unmatched_frame()
    assert list(frame.columns) == ["school_id", "school_name", "side", "country", "reason_code", "reason"]


def test_outside_top_k_reason_and_warning() -> None:
    """Three UK schools all rank k1 first; with top_k 1 (no refinement, no certificate) one of them sees only k1
    (taken) while k2 still has a place. The certificate's pricing adds the missing pair."""
    same = dict(themes="sdg13_climate_action", description="climate action and recycling")
    profiles = [_uk(f"u{i}", **same) for i in range(3)] + [_ab("k1", **same), _ab("k2", capacity=2)]
    index = build(profiles)
    narrow = run(index, top_k=1, refine_rounds=0, certify=False)
    codes = [u.reason_code for u in narrow.unmatched if u.side == "uk"]
    assert "outside_top_k" in codes
    assert any("raise top_k" in w for w in narrow.diagnostics.warnings)
    assert not narrow.diagnostics.certified and narrow.diagnostics.certificate_note == "certify is off"
    priced = run(index, top_k=1, refine_rounds=0)
    assert priced.diagnostics.uk_covered == 3 and priced.diagnostics.certified
    assert priced.diagnostics.pairs_added >= 1
    wide = run(index, top_k=5)
    assert wide.diagnostics.uk_covered == 3
    refined = run(index, top_k=1)  # a refinement round adds pairs among the schools with places left
    assert refined.diagnostics.uk_covered == 3 and refined.diagnostics.refine_rounds >= 1


def test_infeasible_cases_say_what_to_change() -> None:
    uk_only = build([_uk("u1"), _uk("u2")])
    with pytest.raises(InfeasibleError, match=r"no school abroad .* add schools from other countries"):
        run(uk_only)
    abroad_only = build([_ab("k1"), _ab("k2")])
    with pytest.raises(InfeasibleError, match=r"no UK school .* add UK schools"):
        run(abroad_only)
    full = build([_uk("u1"), _uk("u2"), _ab("k1", capacity=0)])
    with pytest.raises(
        InfeasibleError, match="2 UK schools want a partner but no places remain in the chosen countries"
    ):
        run(full)
    index = build([_uk("u1"), _uk("u2"), _ab("k1"), _ab("f1", country="FR", languages="fr")])
    with pytest.raises(InfeasibleError, match=r"below the minimum score 0.99 .* lower the minimum score"):
        run(index, min_score=0.99)
    with pytest.raises(
        InfeasibleError, match="1 UK schools want a partner but no places remain in the chosen countries"
    ):
        run(build([_uk("u1"), _ab("k1"), _ab("f1", country="FR", capacity=0)]), countries=("FR",))
    with pytest.raises(
        InfeasibleError, match=r"forced pair \(u1, f1\) breaks a hard constraint \(they share no language\)"
    ):
        run(index, forced_pairs=[("u1", "f1")])
    with pytest.raises(InfeasibleError, match=r"forced pairs give k1 .* 2 partners but it has 1 place"):
        run(index, forced_pairs=[("u1", "k1"), ("u2", "k1")])
    with pytest.raises(
        InfeasibleError, match=r"only 1 of 2 UK schools can get 1 partner\(s\) at once: .* raise capacities"
    ):
        run(index, min_partners=1)
    with pytest.raises(
        InfeasibleError, match=r"2 UK schools want 1 partner\(s\) each \(2 places\) but only 1 places remain"
    ):
        run(index, min_partners=1, countries=("KE",))
    with pytest.raises(ConfigError, match="must pair a UK school with a school abroad"):
        run(index, forced_pairs=[("u1", "u2")])
    with pytest.raises(InfeasibleError, match="the cohort is empty"):
        assign(index, cohort=[], options=AssignmentOptions(progress=False))


def test_summary_warns_when_places_are_short() -> None:
    index = build([_uk(f"u{i}") for i in range(5)] + [_ab("k1", capacity=2)])
    a = run(index)
    assert a.diagnostics.uk_covered == 2 and a.diagnostics.coverage == pytest.approx(0.4)
    assert "5 UK schools want a partner but only 2 places remain in the chosen countries" in a.diagnostics.warnings[0]
    assert any(line.startswith("warning: 5 UK schools") for line in a.summary())


# ----------------------------------------------------------------------------- determinism, export, callbacks
def test_deterministic_and_exported(indexes, tmp_path) -> None:
    index = indexes[2]
    first = run(index, capacity=2, n_jobs=2)
    second = run(index, capacity=2, n_jobs=2)
    pd.testing.assert_frame_equal(first.to_frame(), second.to_frame())
    assert first.unmatched == second.unmatched
    path = first.to_csv(tmp_path / "out" / "partnerships.csv", tmp_path / "out" / "unmatched.csv")
    frame = pd.read_csv(path)
    assert list(frame.columns[:6]) == [
        "uk_school_id",
        "uk_school_name",
        "partner_school_id",
        "partner_school_name",
        "partner_country",
        "score",
    ]
    assert set(COMPONENTS) <= set(frame.columns) and "reasons" in frame.columns
    assert len(frame) == len(first)
    assert "contact_email" not in frame.columns and "@" not in frame.to_csv()
    assert len(pd.read_csv(tmp_path / "out" / "unmatched.csv")) == len(first.unmatched)
    cohort_ids = sorted({sid for pair in first.pairs[:4] for sid in pair})
    sub = assign(index, cohort=cohort_ids, options=AssignmentOptions(progress=False))
    assert set(sub.uk_ids) | set(sub.partner_ids) <= set(cohort_ids)


def test_progress_callback_and_cancel(indexes) -> None:
    calls: list[tuple[str, int, int]] = []
    run_ = assign(
        indexes[0],
        options=AssignmentOptions(progress=False, block_size=2),
        progress_callback=lambda *a: calls.append(a),
    )
    stages = [c[0] for c in calls]
    assert stages[0] == "candidates" and "solve" in stages and stages[-1] == "explain"
    done = [c[1] for c in calls if c[0] == "candidates"]
    assert done == sorted(done) and done[-1] == calls[0][2]
    assert len(run_) > 0
    with pytest.raises(BatchCancelled):
        assign(indexes[0], options=AssignmentOptions(progress=False, block_size=2), should_cancel=lambda: True)


def test_assign_profiles_from_a_csv(tmp_path) -> None:
    from features.profile_files import save_profiles

    path = save_profiles(cohort(8, 10, 5), tmp_path / "cohort.csv")
    a = assign_profiles(path, encoder=HashingEncoder(32), options=AssignmentOptions(progress=False, capacity=2))
    assert a.diagnostics.n_uk == 8 and a.diagnostics.n_abroad == 10
    assert a.diagnostics.n_partnerships > 0


# ----------------------------------------------------------------------------- stability
def test_stable_mode_has_no_blocking_pair_by_the_core_scores(indexes) -> None:
    """Brute force, independent of ``matching.batch.solvers.stable``: scores from ``Ranker.score_all`` on both sides,
    strict preferences only (a pair blocking with ties broken would block strictly too)."""
    from matching.core.ranker import Ranker

    index = indexes[2]
    a = run(index, mode="stable", top_k=dense(index), capacity=2)
    assert len(a) > 0 and len(a.blocking_pairs()) == 0
    ranker = Ranker(index)
    g = a.context.graph
    ids = index.columns.ids
    partners: dict[str, list[str]] = {}
    for x, y in a.pairs:
        partners.setdefault(x, []).append(y)
        partners.setdefault(y, []).append(x)
    score_all = {sid: ranker.score_all(sid)[0] for sid in {ids[r] for r in (*g.uk_rows, *g.intl_rows)}}

    def would_take(me: str, other: str, places: int) -> bool:
        mine = partners.get(me, [])
        if len(mine) < places:
            return True
        s = score_all[me]
        return s[index.row(other)] > min(s[index.row(p)] for p in mine) + 1e-6

    for u, v in zip(g.src.tolist(), g.dst.tolist(), strict=True):
        x, y = ids[g.uk_rows[u]], ids[g.intl_rows[v]]
        if y in partners.get(x, []):
            continue
        assert not (would_take(x, y, int(a.context.cap_uk[u])) and would_take(y, x, int(a.context.cap_abroad[v]))), (
            x,
            y,
        )


def test_blocking_pairs_found_in_a_non_stable_result() -> None:
    """Optimal coverage can leave a pair that both schools prefer: the checker reports it."""
    same = dict(themes="sdg13_climate_action", description="climate action and recycling")
    profiles = [
        _uk("u1", capacity=1, **same),  # u1 and k1 love each other, but k2 is u2's only option...
        _uk("u2", capacity=1, languages="fr"),
        _ab("k1", capacity=1, country="FR", languages=["en", "fr"], **same),
        _ab("k2", capacity=1, country="FR", languages="en"),
    ]
    index = build(profiles)
    best = run(index)
    assert best.diagnostics.uk_covered == 2  # u2 can only take k1, so u1 takes k2
    assert ("u2", "k1") in best.pairs
    blocking = best.blocking_pairs()
    assert list(zip(blocking.uk_school_id, blocking.partner_school_id, strict=True)) == [("u1", "k1")]
    stable = run(index, mode="stable")
    assert ("u1", "k1") in stable.pairs and len(stable.blocking_pairs()) == 0
    assert stable.diagnostics.uk_covered == 1


def test_long_exchange_chain_needs_the_safe_coverage_weight() -> None:
    """Covering one more school can cost more score than the first try's small coverage weight: here u0 is
    covered only by shifting every u_i from v_i (score 1) to v_{i+1} (score 0). The check against the
    maximum coverage must catch it and solve again with the safe weight."""
    n = 3 * QUICK_COVERAGE_WEIGHT
    src, dst, score = [0], [0], [0.0]  # u0 - v1 (local: UK u_i = i, abroad v_i = i - 1)
    for i in range(1, n + 1):
        src += [i, i]
        dst += [i - 1, i]
        score += [1.0, 0.0]
    src_a, dst_a = np.array(src, np.int32), np.array(dst, np.int32)
    score_a = np.array(score, np.float32)
    ones_uk, ones_ab = np.ones(n + 1, np.int64), np.ones(n + 1, np.int64)
    chosen = solve_optimal(SolverInput(src_a, dst_a, score_a, ones_uk, ones_ab, bonus=ones_uk)).chosen
    assert np.bincount(src_a[chosen], minlength=n + 1).min() == 1  # every UK school covered
    assert float(score_a[chosen].sum()) == 0.0
    net = FlowNetwork(src_a, dst_a, score_a, ones_uk, ones_ab, ones_uk, None)
    quick, _ = net.min_cost(QUICK_COVERAGE_WEIGHT * net.spread + 1)
    assert net.covered(quick) == n < net.max_coverage() == n + 1  # the first try alone would be wrong


def test_every_solver_has_one_signature_and_keeps_within_places() -> None:
    """``SOLVERS`` maps each mode to a function of one ``SolverInput``; each keeps within the places."""
    src, dst = np.array([0, 0, 1, 1, 2], np.int32), np.array([0, 1, 0, 1, 1], np.int32)
    score = np.array([0.9, 0.5, 0.8, 0.4, 0.7], np.float32)
    cap_uk, cap_ab = np.array([1, 1, 1]), np.array([1, 2])
    problem = SolverInput(src, dst, score, cap_uk, cap_ab, partner_score=lambda: score[::-1].copy())
    for mode, solve in SOLVERS.items():
        chosen = solve(problem).chosen
        assert chosen.dtype == bool and len(chosen) == len(src), mode
        assert (np.bincount(src[chosen], minlength=3) <= cap_uk).all(), mode
        assert (np.bincount(dst[chosen], minlength=2) <= cap_ab).all(), mode
    assert SOLVERS["optimal"](problem).chosen.sum() == 3  # every UK school covered
    assert SOLVERS["optimal"](problem).cost is not None and SOLVERS["greedy"](problem).cost is None
    with pytest.raises(MatchingError, match="needs partner_score"):
        SOLVERS["stable"](SolverInput(src, dst, score, cap_uk, cap_ab))
