"""Decode a solution: the chosen edges (and forced pairs) as an ``Assignment``, with the reason each
unmatched school was left out and the run's diagnostics."""

from __future__ import annotations

import time

import numpy as np

from matching.batch.encode import Problem, places_in_scope
from matching.batch.graph import CandidateGraph, edge_order
from matching.batch.options import ProgressCallback
from matching.batch.pricing import Certificate
from matching.batch.result import UNMATCHED_REASONS, Assignment, Diagnostics, SolveContext, Unmatched
from matching.core.config import COMPONENTS
from matching.core.explain import ReasonsFor
from matching.core.scoring import term_overlap_hours

__all__ = ["decode"]


def decode(
    p: Problem, g: CandidateGraph, chosen: np.ndarray, left_uk: np.ndarray, left_ab: np.ndarray,
    solver_cost: float | None, candidate_seconds: float, solve_seconds: float, start: float,
    progress_callback: ProgressCallback | None, cpu: list[float], rounds: int, certificate: Certificate,
) -> Assignment:  # fmt: skip
    """The solution as an ``Assignment`` (rows back to ids, once): partnerships with scores, contributions and
    reasons, every unmatched school with the reason, diagnostics. ``cpu``: process times at the start, after
    candidates, after solving."""
    t_explain = time.perf_counter()
    index, options = p.index, p.options
    ids = index.columns.ids
    cols = index.cols()
    n_uk, n_ab = len(p.uk_rows), len(p.ab_rows)
    u_local = np.concatenate([p.forced[:, 0], g.src[chosen]]).astype(np.int64)
    v_local = np.concatenate([p.forced[:, 1], g.dst[chosen]]).astype(np.int64)
    forced_flag = np.concatenate([np.ones(len(p.forced), bool), np.zeros(int(chosen.sum()), bool)])
    a_rows, b_rows = p.uk_rows[u_local], p.ab_rows[v_local]
    scores = np.concatenate(
        [p.scorer.pair_scores(a_rows[: len(p.forced)], b_rows[: len(p.forced)]), g.score[chosen]]
    ).astype(np.float32)
    order = edge_order(a_rows, b_rows, scores, index.n_rows)
    a_rows, b_rows, scores, forced_flag = a_rows[order], b_rows[order], scores[order], forced_flag[order]
    u_local, v_local = u_local[order], v_local[order]
    if options.explain:
        contributions = p.scorer.pair_components(a_rows, b_rows)
        hours = term_overlap_hours(cols.tz_offset[a_rows], cols.tz_offset[b_rows], p.config.school_day_hours)
        explainers: dict[int, ReasonsFor] = {}  # one per UK school: its side worked out once
        reasons = []
        for a, b, h in zip(a_rows.tolist(), b_rows.tolist(), hours.tolist(), strict=True):
            explain = explainers.get(a)
            if explain is None:
                explain = explainers[a] = ReasonsFor(index.profiles[a], p.config.skill_threshold)  # type: ignore[arg-type]
            reasons.append(explain(index.profiles[b], h))  # type: ignore[arg-type]
    else:
        contributions, reasons = np.zeros((0, len(COMPONENTS)), np.float32), []

    n_partners_uk = np.bincount(u_local, minlength=n_uk)
    n_partners_ab = np.bincount(v_local, minlength=n_ab)
    used_ab = np.bincount(g.dst[chosen], minlength=n_ab)
    free_after = left_ab - used_ab
    unmatched = _unmatched(p, g, n_partners_uk, n_partners_ab, free_after)
    if progress_callback is not None:
        progress_callback("explain", 1, 1)

    seeking = p.cap_uk > 0
    ab_open = p.cap_ab > 0
    uk_covered = int((n_partners_uk[seeking] > 0).sum())
    countries, counts = np.unique(cols.country[b_rows], return_counts=True)
    per_country = dict(sorted(zip(countries.tolist(), counts.tolist(), strict=True), key=lambda kv: (-kv[1], kv[0])))
    by_reason: dict[str, int] = {}
    for u in unmatched:
        by_reason[u.reason_code] = by_reason.get(u.reason_code, 0) + 1
    want = max(1, options.min_partners)
    warnings = []
    n_seek = int(seeking.sum())
    places = places_in_scope(p, p.cap_ab)
    if n_seek * want > places:
        warnings.append(
            f"{n_seek} UK schools want a partner but only {places} places remain in the chosen countries: "
            "add countries, raise capacities or lower the minimum score"
        )
    n_outside = by_reason.get("outside_top_k", 0)
    if n_outside:
        warnings.append(
            f"{n_outside} UK school(s) were left out while compatible candidates beyond their top {options.top_k} "
            "still had places: raise top_k"
        )
    total = float(scores.astype(np.float64).sum())
    diagnostics = Diagnostics(
        mode=options.mode,
        n_uk=n_uk,
        n_abroad=n_ab,
        n_uk_seeking=n_seek,
        n_abroad_seeking=int(ab_open.sum()),
        uk_places=int(p.cap_uk.sum()),
        abroad_places=int(p.cap_ab.sum()),
        n_partnerships=len(a_rows),
        n_forced=int(forced_flag.sum()),
        uk_covered=uk_covered,
        coverage=uk_covered / n_seek if n_seek else 0.0,
        abroad_covered=int((n_partners_ab[ab_open] > 0).sum()),
        abroad_coverage=float((n_partners_ab[ab_open] > 0).mean()) if ab_open.any() else 0.0,
        total_score=total,
        mean_score=total / len(scores) if len(scores) else 0.0,
        min_score=float(scores.min()) if len(scores) else 0.0,
        partnerships_per_country=per_country,
        unmatched_by_reason=by_reason,
        objective={
            "covered_units": int(np.minimum(n_partners_uk[seeking], want).sum()),
            "total_score": total,
            **({"solver_cost": solver_cost} if solver_cost is not None else {}),
        },
        n_candidate_edges=g.n_edges,
        top_k=options.top_k,
        refine_rounds=rounds,
        candidate_seconds=candidate_seconds,
        solve_seconds=solve_seconds,
        explain_seconds=time.perf_counter() - t_explain,
        total_seconds=time.perf_counter() - start,
        cpu_seconds={
            "candidates": cpu[1] - cpu[0],
            "solve": cpu[2] - cpu[1],
            "explain": time.process_time() - cpu[2],
            "total": time.process_time() - cpu[0],
        },
        warnings=tuple(warnings),
        certified=certificate.certified,
        pricing_rounds=certificate.rounds,
        pairs_added=certificate.pairs_added,
        certificate_note=certificate.note,
    )
    names = {ids[r]: index.profiles[r].name for r in np.concatenate([p.uk_rows, p.ab_rows]).tolist()}  # type: ignore[union-attr]
    return Assignment(
        uk_ids=np.array([ids[r] for r in a_rows.tolist()], dtype=object),
        partner_ids=np.array([ids[r] for r in b_rows.tolist()], dtype=object),
        partner_countries=cols.country[b_rows].astype("<U2"),
        scores=scores,
        contributions=contributions,
        forced=forced_flag,
        reasons=reasons,
        unmatched=unmatched,
        diagnostics=diagnostics,
        options=options,
        names=names,
        context=SolveContext(g, chosen, left_uk, left_ab, p.scorer),
    )


def _unmatched(
    p: Problem, g: CandidateGraph, n_uk: np.ndarray, n_ab: np.ndarray, free_after: np.ndarray
) -> list[Unmatched]:
    """Every school without a partner, with the reason."""
    ids = p.index.columns.ids
    country = p.index.cols().country
    out: list[Unmatched] = []
    lonely = np.flatnonzero(n_uk == 0)
    # UK schools whose eligible candidates may still have places: look at their whole row again
    recheck = lonely[(p.cap_uk[lonely] > 0) & (g.n_eligible[lonely] > 0)]
    free_beyond: dict[int, bool] = {}
    min_score = p.options.min_score
    free = np.flatnonzero((p.cap_ab > 0) & (free_after > 0))  # only these candidates matter
    step = 256
    for start in range(0, len(recheck) if len(free) else 0, step):
        rows = p.uk_rows[recheck[start : start + step]]
        eligible = p.pairs.allowed(rows, free)
        if min_score is not None:
            eligible &= p.pairs.scores(rows, free) >= np.float32(min_score)
        free_beyond.update(zip(recheck[start : start + step].tolist(), eligible.any(axis=1).tolist(), strict=True))
    for u in lonely.tolist():
        if p.cap_uk[u] <= 0:
            code, detail = "not_taking_partners", ""
        elif g.n_compatible[u] == 0:
            code, detail = "no_compatible", ""
        elif g.n_open[u] == 0:
            code, detail = "candidates_full", f" ({g.n_compatible[u]} compatible)"
        elif g.n_eligible[u] == 0:
            code, detail = "below_min_score", f" (best {g.best_open[u]:.3f} < {min_score:g})"
        elif free_beyond.get(u, False):
            code, detail = "outside_top_k", f" (top_k {p.options.top_k})"
        else:
            code, detail = "candidates_taken", f" ({g.n_eligible[u]} eligible)"
        row = int(p.uk_rows[u])
        out.append(Unmatched(ids[row], "uk", str(country[row]), code, UNMATCHED_REASONS[code] + detail))
    in_graph = np.bincount(g.dst, minlength=len(p.ab_rows)) > 0
    for v in np.flatnonzero(n_ab == 0).tolist():
        if p.cap_ab[v] <= 0:
            code = "not_taking_partners"
        elif not g.intl_compatible[v]:
            code = "no_compatible"
        elif not g.intl_eligible[v]:
            code = "below_min_score"
        elif not in_graph[v]:
            code = "not_in_top_k"
        else:
            code = "not_chosen"
        row = int(p.ab_rows[v])
        out.append(Unmatched(ids[row], "abroad", str(country[row]), code, UNMATCHED_REASONS[code]))
    return out
