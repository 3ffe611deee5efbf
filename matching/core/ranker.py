"""The ranker: hard-constraint mask, one matrix product, diversity, then reasons for the top k."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.profiles import SchoolProfile
from matching.core.config import COMPONENTS, Diversity, RankerConfig
from matching.core.constraints import PHASE_COMPATIBLE, ConstraintSet, Query, RequestFilters
from matching.core.explain import PairExplanation, Reasons, reasons_for
from matching.core.index import COARSE_MIN_ROWS, SchoolColumns, SchoolIndex, single_threaded_blas
from matching.core.scoring import Scorer, overlap_hours
from matching.errors import ConfigError

BOUNDED_MIN_ALLOWED = 2048  # search="auto": fewer allowed candidates than this are scored exactly


@dataclass(frozen=True)
class Ranking:
    """Suggestions for one school, best first. ``contributions`` columns follow ``components``
    and each row adds up to the score."""

    query_id: str
    ids: np.ndarray  # (k,) object
    scores: np.ndarray  # (k,) float32
    contributions: np.ndarray  # (k, len(components)) float32
    reasons: list[Reasons] = field(default_factory=list)
    components: tuple[str, ...] = COMPONENTS
    n_allowed: int = 0  # candidates that passed every hard constraint

    def __len__(self) -> int:
        return len(self.ids)

    def to_records(self) -> list[dict[str, object]]:
        """One JSON-ready dict per suggestion."""
        return [
            {
                "school_id": str(sid),
                "score": float(score),
                "contributions": {c: float(v) for c, v in zip(self.components, contrib, strict=True)},
                "reasons": reasons.as_dict(),
            }
            for sid, score, contrib, reasons in zip(
                self.ids, self.scores, self.contributions, self.reasons, strict=True
            )
        ]

    def to_frame(self) -> pd.DataFrame:
        """A table: rank, school_id, score, one column per component, reasons."""
        frame = pd.DataFrame(self.contributions, columns=list(self.components))
        frame.insert(0, "score", self.scores)
        frame.insert(0, "school_id", self.ids)
        frame.insert(0, "rank", np.arange(1, len(self.ids) + 1))
        frame["reasons"] = ["; ".join(r.sentences()) for r in self.reasons]
        return frame


class Ranker:
    """Suggests partners for a school: ``suggest`` for one, ``explain`` for a pair."""

    def __init__(self, index: SchoolIndex, config: RankerConfig | None = None) -> None:
        self.index = index
        self.config = config or RankerConfig()
        self.scorer = Scorer(index, self.config)

    # ------------------------------------------------------------ the query side
    def _query(self, school: str | SchoolProfile) -> tuple[Query, np.ndarray, SchoolProfile]:
        if isinstance(school, SchoolProfile):
            row = self.index.row_of.get(school.school_id, -1)
            query = Query(SchoolColumns.from_profiles([school]), np.array([row], dtype=np.int64))
            return query, self.index.vectorize([school])[0], school
        row = self.index.row(school)
        profile = self.index.profiles[row]
        assert profile is not None
        return Query.registered(self.index, [row]), self.index.matrix[row], profile

    def constraint_set(self, filters: RequestFilters | None = None) -> ConstraintSet:
        """The configured constraints plus a request's filters."""
        return ConstraintSet(self.config.constraints, filters or RequestFilters())

    # ------------------------------------------------------------ ranking
    def score_all(
        self, school: str | SchoolProfile, filters: RequestFilters | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores against every row and the allowed mask (both ``(n_rows,)``)."""
        query, row_vec, _ = self._query(school)
        mask = self.constraint_set(filters).allowed(self.index, query)[0]
        q = self.scorer.query_vectors(row_vec)
        scores = self.scorer.scores(q, query.columns.tz_offset)[0]
        return scores, mask

    def suggest(
        self,
        school: str | SchoolProfile,
        k: int = 10,
        filters: RequestFilters | None = None,
        diversity: Diversity | str | None = None,
    ) -> Ranking:
        """The top ``k`` allowed candidates for a registered school id or a posted profile."""
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ConfigError(f"k: {k!r} must be a positive integer")
        div = self._diversity(diversity)
        query, row_vec, profile = self._query(school)
        constraints = self.constraint_set(filters)
        mask = constraints.allowed(self.index, query)[0]
        q = self.scorer.query_vectors(row_vec)[0]
        n_allowed = int(np.count_nonzero(mask))
        if n_allowed == 0:
            return self._ranking(profile, q, np.zeros(0, dtype=np.int64), np.zeros(0, np.float32), 0)
        pool = min(n_allowed, k if div.method == "none" else k * div.pool)
        with single_threaded_blas():
            if self._bounded(n_allowed):
                # a superset of the exact top `pool` (coarse bounds), then exact scores for it
                rules = constraints.rules()
                sides = (int(not query.columns.is_uk[0]),) if "cross_border" in rules else (0, 1)
                phases = (
                    np.flatnonzero(PHASE_COMPATIBLE[query.columns.phase[0]]).tolist()
                    if "phase_compatible" in rules
                    else None
                )
                cands = self.scorer.bounded_candidates(
                    q, float(query.columns.tz_offset[0]), mask, pool, sides, phases=phases
                )
            else:
                cands = np.flatnonzero(mask)
            scores = self.scorer.scores(q, query.columns.tz_offset, cands)[0]
        top = _top(cands, scores, pool)
        # stable order: score descending, then row ascending (deterministic ties)
        order = np.lexsort((cands[top], -scores[top]))
        rows, pool_scores = cands[top][order], scores[top][order]
        chosen = self._diversify(rows, pool_scores, k, div)
        return self._ranking(profile, q, rows[chosen], pool_scores[chosen], n_allowed)

    def _bounded(self, n_allowed: int) -> bool:
        """Whether to use the coarse first pass (``config.search``) rather than score every allowed row."""
        if self.config.search == "auto":
            return len(self.index) >= COARSE_MIN_ROWS and n_allowed >= BOUNDED_MIN_ALLOWED
        return self.config.search == "bounded"

    def prepare(self) -> None:
        """Build the coarse first-pass index now (otherwise the first large request builds it)."""
        if self.config.search != "exact":
            self.index.coarse_index(
                self.scorer.weights, min_rows=0 if self.config.search == "bounded" else COARSE_MIN_ROWS
            )

    def _diversity(self, diversity: Diversity | str | None) -> Diversity:
        if diversity is None:
            return self.config.diversity
        if isinstance(diversity, Diversity):
            return diversity
        if diversity in ("none", "country_cap", "mmr"):
            return self.config.diversity.model_copy(update={"method": diversity})
        raise ConfigError(f"diversity: {diversity!r} is not one of none, country_cap, mmr")

    def _diversify(self, rows: np.ndarray, scores: np.ndarray, k: int, div: Diversity) -> np.ndarray:
        """Positions (into the sorted pool) of the k chosen candidates."""
        if div.method == "none" or len(rows) <= 1:
            return np.arange(min(k, len(rows)))
        if div.method == "country_cap":
            countries = self.index.cols().country[rows]
            counts: dict[str, int] = {}
            chosen, spill = [], []
            for pos, country in enumerate(countries):
                if counts.get(country, 0) < div.max_per_country:
                    counts[country] = counts.get(country, 0) + 1
                    chosen.append(pos)
                    if len(chosen) == k:
                        break
                else:
                    spill.append(pos)
            chosen += spill[: k - len(chosen)]  # fewer countries than needed: fill by score
            return np.array(sorted(chosen, key=lambda p: (-scores[p], p)), dtype=np.int64)
        # maximal marginal relevance on country-block similarity
        country = self.index.X[rows][:, self.index.blocks["country"]]
        sim = country @ country.T
        chosen_list = [0]
        best_sim = sim[0].copy()
        candidates = np.ones(len(rows), dtype=bool)
        candidates[0] = False
        while len(chosen_list) < min(k, len(rows)):
            value = div.mmr_lambda * scores - (1 - div.mmr_lambda) * best_sim
            value[~candidates] = -np.inf
            nxt = int(np.argmax(value))
            chosen_list.append(nxt)
            candidates[nxt] = False
            best_sim = np.maximum(best_sim, sim[nxt])
        return np.array(chosen_list, dtype=np.int64)

    def _ranking(
        self, profile: SchoolProfile, q: np.ndarray, rows: np.ndarray, scores: np.ndarray, n_allowed: int
    ) -> Ranking:
        tz_q = _tz(profile)
        contributions = (
            self.scorer.contributions(q, tz_q, rows) if len(rows) else np.zeros((0, len(COMPONENTS)), np.float32)
        )
        tz_c = self.index.cols().tz_offset[rows]
        hours = overlap_hours(tz_q, tz_c, self.config.school_day_hours) if len(rows) else np.zeros(0)
        reasons = [
            reasons_for(profile, self.index.profiles[r], h, self.config.skill_threshold)  # type: ignore[arg-type]
            for r, h in zip(rows, hours, strict=True)
        ]
        ids = np.array([self.index.columns.ids[r] for r in rows], dtype=object)
        return Ranking(profile.school_id, ids, scores.astype(np.float32), contributions, reasons, COMPONENTS, n_allowed)

    # ------------------------------------------------------------ explanations
    def explain(self, a: str | SchoolProfile, b: str, filters: RequestFilters | None = None) -> PairExplanation:
        """Why ``b`` scores as it does for ``a``, or which hard constraints block the pair."""
        query, row_vec, profile = self._query(a)
        row_b = self.index.row(b)
        profile_b = self.index.profiles[row_b]
        assert profile_b is not None
        blocked = self.constraint_set(filters).blocking(self.index, query, row_b)
        q = self.scorer.query_vectors(row_vec)[0]
        contrib = self.scorer.contributions(q, _tz(profile), np.array([row_b]))[0]
        hours = float(overlap_hours(_tz(profile), self.index.cols().tz_offset[row_b], self.config.school_day_hours))
        return PairExplanation(
            a=profile.school_id,
            b=b,
            allowed=not blocked,
            blocked_by=blocked,
            score=float(contrib.sum()),
            contributions={c: float(v) for c, v in zip(COMPONENTS, contrib, strict=True)},
            reasons=reasons_for(profile, profile_b, hours, self.config.skill_threshold),
        )


def _top(rows: np.ndarray, scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` best scores; among equal scores at the cut, the lowest rows (``rows`` ascending)."""
    if n >= len(rows):
        return np.arange(len(rows))
    cut = np.partition(scores, len(scores) - n)[len(scores) - n]
    above = np.flatnonzero(scores > cut)
    return np.concatenate([above, np.flatnonzero(scores == cut)[: n - len(above)]])


def _tz(profile: SchoolProfile) -> float:
    from features.vocab import utc_offset_hours

    return utc_offset_hours(profile.timezone)
