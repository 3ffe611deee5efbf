"""Evaluation: metrics against hand-computed values, input files, the leave-one-out protocol, baselines."""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest

from features.text import HashingEncoder
from matching.core.config import COMPONENTS, RankerConfig
from matching.core.constraints import RequestFilters
from matching.core.index import SchoolIndex
from matching.core.ranker import Ranker
from matching.evaluation import (
    EvaluationInputError,
    bootstrap_means,
    coverage,
    entropy_bits,
    evaluate,
    gini,
    load_judgements,
    load_partnerships,
    lorenz_curve,
    mean_reciprocal_rank,
    ndcg_at_k,
    pair_violations,
    recall_at_k,
    synthetic_history,
)
from matching.evaluation.audit import count_violations
from matching.evaluation.offline import component_scores, pair_components
from tests.support.factories import make_profile, make_registry

ENC = HashingEncoder(dim=64)


# ------------------------------------------------------------ metrics by hand
def test_rank_metrics_match_hand_computed_values() -> None:
    ranks = np.array([1, 3, 12, np.inf])
    assert recall_at_k(ranks, 1) == 0.25
    assert recall_at_k(ranks, 5) == 0.5
    assert recall_at_k(ranks, 10) == 0.5
    assert recall_at_k(ranks, 20) == 0.75
    assert mean_reciprocal_rank(ranks) == pytest.approx((1 + 1 / 3 + 1 / 12 + 0) / 4)
    # one relevant item: gain 1/log2(rank+1) inside the top 10 -> (1 + 1/2 + 0 + 0) / 4
    assert ndcg_at_k(ranks, 10) == pytest.approx(0.375)
    assert ndcg_at_k(np.array([2.0]), 10) == pytest.approx(1 / math.log2(3))


def test_gini_lorenz_entropy_coverage_by_hand() -> None:
    assert gini(np.array([1, 1, 1, 1])) == 0.0
    assert gini(np.array([0, 0, 0, 1])) == pytest.approx(0.75)  # one takes all: (n-1)/n
    # mean absolute difference: sum_ij |xi-xj| = 20, 2 n^2 mean = 80
    assert gini(np.array([4, 1, 3, 2])) == pytest.approx(0.25)
    assert gini(np.zeros(5)) == 0.0
    x, y = lorenz_curve(np.array([0, 0, 0, 1]))
    np.testing.assert_allclose(x, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(y, [0, 0, 0, 0, 1])
    assert entropy_bits(["KE", "KE", "IN", "IN"]) == pytest.approx(1.0)
    assert entropy_bits(["KE", "IN", "BR", "FR"]) == pytest.approx(2.0)
    assert entropy_bits(["KE"] * 4) == 0.0
    assert entropy_bits([]) == 0.0
    assert coverage(np.array([0, 2, 1, 0])) == 0.5


def test_bootstrap_interval_brackets_the_mean_and_is_seeded() -> None:
    rng = np.random.default_rng(3)
    values = rng.random((400, 2))
    mean, lo, hi = bootstrap_means(values, n_bootstrap=500, seed=1)
    np.testing.assert_allclose(mean, values.mean(axis=0))
    assert (lo < mean).all() and (mean < hi).all()
    # about 1.96 standard errors either side
    se = values.std(axis=0) / np.sqrt(len(values))
    np.testing.assert_allclose(hi - lo, 2 * 1.96 * se, rtol=0.25)
    again = bootstrap_means(values, n_bootstrap=500, seed=1)
    np.testing.assert_array_equal(lo, again[1])
    _, clo, chi = bootstrap_means(np.full(50, 0.3), n_bootstrap=100)
    assert clo[0] == pytest.approx(0.3) and chi[0] == pytest.approx(0.3)


# ------------------------------------------------------------ input files
@pytest.fixture(scope="module")
def small() -> Ranker:
    index = SchoolIndex.build(make_registry(150, seed=4), ENC, progress=False)
    return Ranker(index)


def test_partnership_file_checks(tmp_path, small: Ranker) -> None:
    ids = small.index.ids
    path = tmp_path / "p.csv"
    path.write_text(f"school_a,school_b,source\n{ids[0]},{ids[1]},bc\n{ids[1]},{ids[0]},dup\n{ids[2]},{ids[3]},\n")
    frame = load_partnerships(path, small.index)
    assert list(frame.columns) == ["school_a", "school_b", "source", "date"]
    assert len(frame) == 2  # the reversed duplicate is kept once
    path.write_text(f"school_a,school_b\n{ids[0]},nope-1\n{ids[2]},{ids[2]}\n")
    with pytest.raises(EvaluationInputError, match=r"line 2: school_b 'nope-1' is not a school_id"):
        load_partnerships(path, small.index)
    path.write_text(f"school_a,school_b\n{ids[0]},nope-1\n")
    assert len(load_partnerships(path, small.index, unknown="skip")) == 0
    path.write_text(f"school_a,school_b\n{ids[2]},{ids[2]}\n")
    with pytest.raises(EvaluationInputError, match=r"line.s. 2: school_a and school_b are the same"):
        load_partnerships(path, small.index)
    path.write_text("a,b\nx,y\n")
    with pytest.raises(EvaluationInputError, match=r"missing column.s. school_a, school_b"):
        load_partnerships(path)
    with pytest.raises(EvaluationInputError, match="no such partnerships file"):
        load_partnerships(tmp_path / "missing.csv")


def test_judgement_file_checks(small: Ranker) -> None:
    ids = small.index.ids
    frame = pd.DataFrame({"school": [ids[0]], "candidate_a": [ids[1]], "candidate_b": [ids[2]], "better": ["A "]})
    assert load_judgements(frame, small.index)["better"].tolist() == ["a"]
    frame["better"] = ["c"]
    with pytest.raises(EvaluationInputError, match=r"better 'c'.*must be 'a' or 'b'"):
        load_judgements(frame, small.index)


# ------------------------------------------------------------ the independent constraint check
def test_pair_violations_names_each_broken_rule() -> None:
    rng = random.Random(0)
    uk = make_profile(rng, 1, country="GB", languages=["en"], phase="primary", age_min=4, age_max=11, capacity=2)
    ke = make_profile(
        rng, 2, country="KE", languages=["en", "sw"], phase="primary", age_min=5, age_max=11, capacity=1, active=True
    )
    assert pair_violations(uk, ke) == []
    fr = make_profile(rng, 3, country="FR", languages=["fr"], phase="sixth_form", age_min=16, age_max=19, capacity=0)
    assert set(pair_violations(uk, fr)) == {
        "phase_compatible",
        "ages_overlap",
        "shared_language",
        "candidate_available",
    }
    assert pair_violations(uk, uk.model_copy(update={"school_id": "s9"})) == ["cross_border"]
    linked_uk = uk.model_copy(update={"current_partners": ("s2",)})
    linked_ke = ke.model_copy(update={"current_partners": ("s1",)})  # capacity 1, now full
    assert pair_violations(linked_uk, linked_ke) == ["candidate_available", "not_already_partners"]
    assert pair_violations(linked_uk, linked_ke, hidden=True) == []  # leave-one-out hides the link
    assert pair_violations(uk.model_copy(update={"excluded": ("s2",)}), ke) == ["not_excluded"]
    assert pair_violations(uk, ke, filters=RequestFilters(countries=("IN",))) == ["country_filter"]
    off = RankerConfig().model_copy(
        update={"constraints": RankerConfig().constraints.model_copy(update={"ages_overlap": False})}
    )
    assert "ages_overlap" not in pair_violations(uk, fr, off)


def test_violation_counter_catches_a_forbidden_suggestion(small: Ranker) -> None:
    index = small.index
    _, mask = small.score_all(index.ids[0])
    allowed, blocked = np.flatnonzero(mask)[:3], np.flatnonzero(~mask)[1:3]  # [0] may be the school itself
    lists = np.array([np.concatenate([allowed, [-1]]), np.concatenate([allowed[:2], blocked])])
    n = count_violations(index, small.config, RequestFilters(), np.array([0, 0]), lists, None, {})
    assert n == len(blocked)


# ------------------------------------------------------------ scores
def test_component_scores_add_up_to_the_rankers_score(small: Ranker) -> None:
    index = small.index
    rows = np.array([0, 5, 17])
    comps = component_scores(index, rows, small.config)
    assert comps.shape == (len(COMPONENTS), 3, index.n_rows)
    w = np.array([small.config.weights.as_dict()[c] for c in COMPONENTS])
    for i, r in enumerate(rows):
        scores, _ = small.score_all(index.columns.ids[r])
        np.testing.assert_allclose(np.tensordot(w, comps[:, i], axes=1), scores, atol=1e-5)
    cands = np.array([3, 40, 99])
    pc = pair_components(index, rows, cands, small.config)
    np.testing.assert_allclose(pc, comps[:, np.arange(3), cands].T, atol=1e-5)
    expl = small.explain(index.columns.ids[rows[1]], index.columns.ids[cands[1]])
    np.testing.assert_allclose(pc[1] * w, [expl.contributions[c] for c in COMPONENTS], atol=1e-5)


# ------------------------------------------------------------ leave-one-out does not leak
def _linked_registry() -> tuple[list, str, str]:
    rng = random.Random(11)
    profiles = make_registry(120, seed=11)
    a = make_profile(rng, 900, country="GB", languages=["en"], phase="primary", age_min=4, age_max=11, capacity=1)
    b = make_profile(rng, 901, country="KE", languages=["en"], phase="primary", age_min=4, age_max=11, capacity=1)
    a = a.model_copy(update={"current_partners": ("s901",), "excluded": (), "active": True})
    b = b.model_copy(update={"current_partners": ("s900",), "excluded": (), "active": True})
    return [*profiles, a, b], a.school_id, b.school_id


def test_leave_one_out_hides_the_pair_and_matches_a_rebuilt_registry() -> None:
    profiles, a, b = _linked_registry()
    index = SchoolIndex.build(profiles, ENC, progress=False)
    ranker = Ranker(index)
    _, mask = ranker.score_all(a)
    assert not mask[index.row(b)]  # as registered, the link (and b's full capacity) blocks the pair
    version, partner_of = index.version, {k: set(v) for k, v in index.partner_of.items()}

    others = [p for p in index.ids if p not in (a, b)][:6]
    pairs = pd.DataFrame({"school_a": [a, *others[:3]], "school_b": [b, *others[3:]]})
    report = evaluate(ranker, pairs, baselines=False, diversity="none", n_bootstrap=50, progress=False)
    assert index.version == version and index.partner_of == partner_of  # the index is untouched

    # the oracle: the same registry with the link really removed, ranked by the plain ranker
    hidden = [p.model_copy(update={"current_partners": ()}) if p.school_id in (a, b) else p for p in profiles]
    oracle = Ranker(SchoolIndex.build(hidden, ENC, progress=False))
    for school, partner in [(a, b), (b, a)]:
        scores, allowed = oracle.score_all(school)
        row = oracle.index.row(partner)
        assert allowed[row]
        expected = 1 + int((allowed & (scores > scores[row])).sum())
        got = report.ranks.loc[(report.ranks.school == school) & (report.ranks.partner == partner), "ranker"]
        assert got.item() == expected


def test_other_known_partners_are_filtered_out() -> None:
    index = SchoolIndex.build(make_registry(200, seed=5), ENC, progress=False)
    ranker = Ranker(index)
    a = next(p.school_id for p in index.present_profiles() if p.is_uk and p.active)
    scores, mask = ranker.score_all(a)
    allowed = np.flatnonzero(mask)
    best = allowed[np.argsort(-scores[allowed])]
    top, target = index.columns.ids[best[0]], index.columns.ids[best[3]]
    alone = evaluate(ranker, pd.DataFrame({"school_a": [a], "school_b": [target]}), baselines=False,
                     diversity="none", n_bootstrap=10, progress=False)  # fmt: skip
    both = evaluate(ranker, pd.DataFrame({"school_a": [a, a], "school_b": [target, top]}), baselines=False,
                    diversity="none", n_bootstrap=10, progress=False)  # fmt: skip
    rank_alone = alone.ranks.query("school == @a and partner == @target")["ranker"].item()
    rank_both = both.ranks.query("school == @a and partner == @target")["ranker"].item()
    assert rank_alone == 4
    assert rank_both == 3  # the other known partner (ranked first) no longer counts against it


# ------------------------------------------------------------ the whole run with baselines
@pytest.fixture(scope="module")
def demo_run():
    from matching.demo import generate_registry

    index = SchoolIndex.build(generate_registry(500, seed=3), ENC, progress=False)
    ranker = Ranker(index)
    history = synthetic_history(index, n_partnerships=80, n_outcome_schools=0, seed=2)
    ids = index.ids
    rng = np.random.default_rng(0)
    school = rng.choice(ids, 40)
    ca, cb = rng.choice(ids, 40), rng.choice(ids, 40)
    judged = pd.DataFrame({"school": school, "candidate_a": ca, "candidate_b": cb, "better": "a"})
    judged = judged[(judged.school != judged.candidate_a) & (judged.school != judged.candidate_b)]
    report = evaluate(ranker, history.partnerships, judged, n_bootstrap=300, progress=False)
    return ranker, history, judged, report


def test_baselines_run_in_the_same_table(demo_run) -> None:
    _, history, _, report = demo_run
    expected = ["ranker", "random", "tfidf", *(f"only:{c}" for c in COMPONENTS)]
    assert report.methods == expected
    t = report.table
    assert (t["violations"] == 0).all()
    assert (t["cases"] + t["blocked"] == 2 * len(history.partnerships)).all()
    for col in ["recall@1", "recall@5", "recall@10", "recall@20", "MRR", "NDCG@10"]:
        assert ((t[f"{col}_lo"] <= t[col] + 1e-12) & (t[col] <= t[f"{col}_hi"] + 1e-12)).all()
    assert (t["recall@1"] <= t["recall@5"]).all() and (t["recall@10"] <= t["recall@20"]).all()
    assert t[["coverage@10", "gini@10"]].apply(lambda c: c.between(0, 1)).all().all()
    # the latent history is learnable: the ranker beats picking at random among allowed schools
    assert t.loc["ranker", "MRR"] > 2 * t.loc["random", "MRR"]
    assert t.loc["ranker", "recall@10_lo"] > t.loc["random", "recall@10_hi"]
    curve = report.recall_curve(30)
    assert (curve.diff().dropna() >= 0).all().all()
    assert curve.loc[10, "ranker"] == pytest.approx(t.loc["ranker", "recall@10"])
    _, y = report.lorenz("ranker")
    assert y[-1] == pytest.approx(1.0) and (np.diff(y) >= 0).all()
    np.testing.assert_allclose(report.country_mix.sum(axis=1), 1.0)
    md = report.to_markdown()
    assert md.splitlines()[2].startswith("| ranker | ")


def test_judgement_agreement(demo_run) -> None:
    ranker, history, judged, report = demo_run
    # the better candidate is the one the ranker scores higher, so it agrees every time
    index = ranker.index
    flip = []
    for s, a, b in zip(judged.school, judged.candidate_a, judged.candidate_b, strict=True):
        scores, _ = ranker.score_all(s)
        flip.append(scores[index.row(a)] < scores[index.row(b)])
    right = judged.assign(better=np.where(flip, "b", "a"))
    again = evaluate(ranker, history.partnerships.head(5), right, baselines=False, n_bootstrap=50, progress=False)
    assert again.table.loc["ranker", "agreement"] == 1.0
    wrong = right.assign(better=np.where(right.better == "a", "b", "a"))
    worse = evaluate(ranker, history.partnerships.head(5), wrong, baselines=False, n_bootstrap=50, progress=False)
    assert worse.table.loc["ranker", "agreement"] == 0.0
    assert 0.2 < report.table.loc["random", "agreement"] < 0.8


def test_evaluation_is_reproducible(small: Ranker) -> None:
    history = synthetic_history(small.index, n_partnerships=20, n_outcome_schools=0, seed=1)
    one = evaluate(small, history.partnerships, n_bootstrap=100, seed=5, progress=False)
    two = evaluate(small, history.partnerships, n_bootstrap=100, seed=5, progress=False)
    pd.testing.assert_frame_equal(one.table, two.table)
    assert "[" in one.summary().loc["ranker", "MRR"]


# ------------------------------------------------------------ the synthetic history
def test_synthetic_history_is_seeded_feasible_and_independent_of_the_rankers_text_features() -> None:
    profiles = make_registry(300, seed=8)
    index = SchoolIndex.build(profiles, ENC, progress=False)
    ranker = Ranker(index)
    h = synthetic_history(index, n_partnerships=25, n_outcome_schools=30, n_judgements=20, seed=3)
    again = synthetic_history(index, n_partnerships=25, n_outcome_schools=30, n_judgements=20, seed=3)
    pd.testing.assert_frame_equal(h.partnerships, again.partnerships)
    pd.testing.assert_frame_equal(h.outcomes, again.outcomes)
    pd.testing.assert_frame_equal(h.judgements, again.judgements)
    assert len(h.partnerships) > 10 and set(h.outcomes.outcome) <= {"accepted", "declined", "partnership"}
    uses = pd.concat([h.partnerships.school_a, h.partnerships.school_b]).value_counts()
    for a, b in zip(h.partnerships.school_a, h.partnerships.school_b, strict=True):
        _, mask = ranker.score_all(a)
        assert mask[index.row(b)]  # every generated pair passes the hard constraints
    for sid, n in uses.items():
        assert n <= index.profile(sid).free_capacity  # and fits both schools' free places
    assert set(h.outcomes.school_id).isdisjoint(uses.index)
    assert (h.outcomes.groupby("school_id").outcome.apply(lambda o: (o == "partnership").sum()) <= 1).all()
    assert len(h.judgements) == 20 and set(h.judgements.better) <= {"a", "b"}
    # descriptions feed the ranker's themes block but not the latent model: same history without them
    blank = SchoolIndex.build([p.model_copy(update={"description": ""}) for p in profiles], ENC, progress=False)
    pd.testing.assert_frame_equal(
        synthetic_history(blank, n_partnerships=25, n_outcome_schools=30, seed=3).outcomes, h.outcomes
    )
