"""The ranker: hard-constraint mask, one matrix product, diversity, then reasons for the top k.

``suggest`` (one school), ``suggest_many`` (many), ``explain`` (one pair) and ``diagnose`` (how many
candidates each rule and filter lets through: the API's ``empty_because`` and the page's messages).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.encoders import covered_languages
from features.langid import coverage_note
from features.profiles import SchoolProfile
from matching.core import diversity as diversity_
from matching.core.coarse import COARSE_MIN_ROWS, single_threaded_blas
from matching.core.columns import Query, SchoolColumns
from matching.core.config import COMPONENTS, Diversity, RankerConfig
from matching.core.constraints import ConstraintSet
from matching.core.explain import Diagnosis, PairExplanation, Reasons, ReasonsFor, RuleCount, reasons_for
from matching.core.filters import RequestFilters
from matching.core.index import SchoolIndex
from matching.core.scoring import Scorer, term_overlap_hours
from matching.errors import ConfigError

BOUNDED_MIN_ALLOWED = 2048  # search="auto": fewer allowed candidates than this are scored exactly


@dataclass(frozen=True)
class RankedReasons(Reasons):
    """Reasons plus the ranking's own note on a candidate: why it is shown less (``Scorer.demand``, e.g. many
    unanswered partnership requests), last among the sentences and as ``shown_less`` in the extended form."""

    shown_less: str | None = None

    def sentences(self) -> list[str]:
        """The pair's sentences, then the note."""
        out = super().sentences()
        if self.shown_less:
            out.append(self.shown_less[0].upper() + self.shown_less[1:])
        return out

    def as_dict(self, extended: bool = False) -> dict[str, object]:
        """``Reasons.as_dict``; ``extended`` adds ``shown_less``."""
        out = super().as_dict(extended)
        if extended:
            text = out.pop("text")
            out["shown_less"] = self.shown_less
            out["text"] = text
        return out


def with_note(reasons: Reasons, note: str | None) -> RankedReasons:
    """``reasons`` with the ranking's note (``shown_less``: None when the candidate is not shown less)."""
    return RankedReasons(**reasons.__dict__, shown_less=note)


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
    n_allowed: int = 0  # candidates that passed every hard constraint (excluded ones not counted)
    profiles: tuple[SchoolProfile, ...] = ()  # the candidates' profiles, aligned with ``ids``
    n_excluded: int = 0  # allowed candidates left out because the request excluded them

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
        self.scorer.fit_shown = self.fit_exposure  # direct scorer use fits the popularity prior when first needed

    # ------------------------------------------------------------ the query side
    def _query(self, school: str | SchoolProfile) -> tuple[Query, np.ndarray, SchoolProfile]:
        if isinstance(school, SchoolProfile):
            return Query.posted(self.index, school), self.index.vectorize([school])[0], school
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
        self._ensure_exposure()
        query, row_vec, _ = self._query(school)
        mask = self.constraint_set(filters).allowed(self.index, query)[0]
        q = self.scorer.query_vectors(row_vec)
        scores = self.scorer.scores(q, query.columns.tz_offset, query=query.columns)[0]
        return scores, mask

    def suggest(
        self,
        school: str | SchoolProfile,
        k: int = 10,
        filters: RequestFilters | None = None,
        diversity: Diversity | str | None = None,
        exclude: Iterable[str] = (),
    ) -> Ranking:
        """The top ``k`` allowed candidates for a registered school id or a posted profile.

        ``exclude``: school ids to leave out (e.g. the ones the school declined; unregistered ids are ignored).
        """
        _check_k(k)
        div = self.resolve_diversity(diversity)
        return self._suggest(school, k, self.constraint_set(filters), div, exclude)

    def suggest_many(
        self,
        schools: Sequence[str | SchoolProfile],
        k: int = 10,
        filters: RequestFilters | None = None,
        diversity: Diversity | str | None = None,
        exclude: Mapping[str, Iterable[str]] | None = None,
    ) -> list[Ranking]:
        """``suggest`` for many schools (one ranking each, in order); ``exclude`` maps a school id to the ids
        it leaves out. The settings are checked once and BLAS is kept on one thread for the whole run."""
        _check_k(k)
        div = self.resolve_diversity(diversity)
        constraints = self.constraint_set(filters)
        exclude = exclude or {}
        with single_threaded_blas():
            return [self._suggest(s, k, constraints, div, exclude.get(_school_id(s), ())) for s in schools]

    def _suggest(
        self, school: str | SchoolProfile, k: int, constraints: ConstraintSet, div: Diversity, exclude: Iterable[str]
    ) -> Ranking:
        self._ensure_exposure()
        query, row_vec, profile = self._query(school)
        q, rows, scores, n_allowed, n_excluded = self._shown_rows(query, row_vec, k, constraints, div, exclude)
        return self._ranking(profile, q, rows, scores, n_allowed, n_excluded, query.columns)

    def _shown_rows(
        self, query: Query, row_vec: np.ndarray, k: int, constraints: ConstraintSet, div: Diversity,
        exclude: Iterable[str],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:  # fmt: skip
        """A query's list without its reasons: ``(query vector, rows shown best first, their scores, allowed
        candidates, excluded ones)``."""
        mask = constraints.allowed(self.index, query)[0]
        n_excluded = self._exclude(mask, exclude)
        q = self.scorer.query_vectors(row_vec)[0]
        n_allowed = int(np.count_nonzero(mask))
        if n_allowed == 0:
            return q, np.zeros(0, dtype=np.int64), np.zeros(0, np.float32), 0, n_excluded
        pool = min(n_allowed, diversity_.pool_size(k, div))
        with single_threaded_blas():
            if self._bounded(n_allowed):
                # a superset of the exact top `pool` (coarse bounds), then exact scores for it
                segments = constraints.segments(query)
                cands = self.scorer.bounded_candidates(
                    q, query.columns.tz_offset[0], mask, pool, segments=segments, query=query.columns
                )
            else:
                cands = np.flatnonzero(mask)
            scores = self.scorer.scores(q, query.columns.tz_offset, cands, query=query.columns)[0]
        top = _top(cands, scores, pool)
        # stable order: score descending, then row ascending (deterministic ties)
        order = np.lexsort((cands[top], -scores[top]))
        rows, pool_scores = cands[top][order], scores[top][order]
        chosen = self.diversify(rows, pool_scores, k, div)
        return q, rows[chosen], pool_scores[chosen], n_allowed, n_excluded

    def _exclude_rows(self, exclude: Iterable[str]) -> np.ndarray:
        row_of = self.index.row_of
        return np.array(sorted({row_of[s] for s in exclude if s in row_of}), dtype=np.int64)

    def _exclude(self, mask: np.ndarray, exclude: Iterable[str]) -> int:
        """Clear the excluded ids' rows in ``mask``; returns how many of them it allowed."""
        rows = self._exclude_rows(exclude)
        if len(rows) == 0:
            return 0
        n = int(np.count_nonzero(mask[rows]))
        mask[rows] = False
        return n

    def _bounded(self, n_allowed: int) -> bool:
        """Whether to use the coarse first pass (``config.search``) rather than score every allowed row."""
        if self.config.search == "auto":
            return len(self.index) >= COARSE_MIN_ROWS and n_allowed >= BOUNDED_MIN_ALLOWED
        return self.config.search == "bounded"

    def fit_exposure(self, seed: int = 0) -> np.ndarray:
        """Fit the popularity prior (``config.exposure``): how many top-``k`` lists of up to ``sample`` active
        asking schools (seeded) each row is in, ranked without the prior. Returns the counts (per row)."""
        exp = self.config.exposure
        plain = Ranker(self.index, self.config.model_copy(update={"exposure": exp.model_copy(update={"prior": 0.0})}))
        cols = self.index.cols()
        askers = np.flatnonzero(cols.present & cols.active)
        if len(askers) > exp.sample:
            askers = np.sort(np.random.default_rng(seed).choice(askers, exp.sample, replace=False))
        shown = np.zeros(self.index.n_rows, dtype=np.int64)
        constraints, div = plain.constraint_set(None), plain.resolve_diversity(None)
        with single_threaded_blas():  # each asker's list as ``suggest`` shows it, without building its reasons
            for row in askers.tolist():
                query, row_vec, _ = plain._query(cols.ids[row])
                shown[plain._shown_rows(query, row_vec, exp.k, constraints, div, ())[1]] += 1
        self.scorer.shown = shown
        return shown

    def _ensure_exposure(self) -> None:
        if self.config.exposure.prior and self.scorer.shown is None:
            self.fit_exposure()

    def prepare(self) -> None:
        """Build the coarse first-pass index and fit the popularity prior now (otherwise the first request does)."""
        self._ensure_exposure()
        if self.config.search != "exact":
            self.index.coarse_index(
                self.scorer.block_weights, min_rows=0 if self.config.search == "bounded" else COARSE_MIN_ROWS
            )

    def resolve_diversity(self, diversity: Diversity | str | None = None) -> Diversity:
        """A request's diversity settings: the configured ones, a method name applied to them, or given ones."""
        return diversity_.resolve(self.config.diversity, diversity)

    def diversify(
        self, rows: np.ndarray, scores: np.ndarray, k: int, diversity: Diversity | str | None = None
    ) -> np.ndarray:
        """Positions (into ``rows``, sorted best first with their ``scores``) of the k candidates to show."""
        return diversity_.diversify(self.index, rows, scores, k, self.resolve_diversity(diversity))

    def _ranking(
        self,
        profile: SchoolProfile,
        q: np.ndarray,
        rows: np.ndarray,
        scores: np.ndarray,
        n_allowed: int,
        n_excluded: int = 0,
        query_columns: SchoolColumns | None = None,
    ) -> Ranking:
        """``query_columns``: the asking school's columns (``Query.columns``), else built from ``profile``."""
        cols = SchoolColumns.from_profiles([profile]) if query_columns is None else query_columns
        tz_q = cols.tz_offset[0]
        contributions = self.scorer.contributions(q, tz_q, rows, cols)
        tz_c = self.index.cols().tz_offset[rows]
        hours = term_overlap_hours(tz_q, tz_c, self.config.school_day_hours)  # (len(rows), N_TERMS)
        profiles = tuple(self.index.profiles[r] for r in rows)
        reasons_of = ReasonsFor(profile, self.config.skill_threshold)
        reasons = [
            reasons_of(p, h, self.text_note(p), RankedReasons, shown_less=note)  # type: ignore[arg-type]
            for p, h, note in zip(profiles, hours.tolist(), self.scorer.shown_less(rows), strict=True)
        ]
        ids = np.array([self.index.columns.ids[r] for r in rows], dtype=object)
        return Ranking(
            profile.school_id, ids, scores.astype(np.float32), contributions, reasons, COMPONENTS, n_allowed,
            profiles, n_excluded,  # type: ignore[arg-type]
        )  # fmt: skip

    def text_note(self, profile: SchoolProfile) -> str | None:
        """A note when ``profile``'s description is in a language the index's text model does not cover (its
        themes component then rests on the theme tags: ``features.encoders.guard``), else None."""
        if profile.description_language is None:
            return None
        encoder = getattr(self.index.vectorizer, "encoder", None)
        return coverage_note(profile.description_language, covered_languages(encoder), getattr(encoder, "name", "?"))

    # ------------------------------------------------------------ explanations
    def explain(
        self, a: str | SchoolProfile, b: str, filters: RequestFilters | None = None, demand: bool = True
    ) -> PairExplanation:
        """Why ``b`` scores as it does for ``a``, or which hard constraints block the pair. ``demand=False``: the
        pair's fit without ``b``'s demand factor (``Scorer.demand``), e.g. for ranking an inbox by fit."""
        self._ensure_exposure()
        query, row_vec, profile = self._query(a)
        row_b = self.index.row(b)
        profile_b = self.index.profiles[row_b]
        assert profile_b is not None
        blocked = self.constraint_set(filters).blocking(self.index, query, row_b)
        q = self.scorer.query_vectors(row_vec)[0]
        tz_a = query.columns.tz_offset[0]
        contrib = self.scorer.contributions(q, tz_a, np.array([row_b]), query.columns)[0]
        note = self.scorer.shown_less([row_b])[0]
        if not demand and note:
            contrib = contrib / np.float32(self.scorer.demand.factor(b))
            note = None
        hours = term_overlap_hours(tz_a, self.index.cols().tz_offset[row_b], self.config.school_day_hours)
        return PairExplanation(
            a=profile.school_id,
            b=b,
            allowed=not blocked,
            blocked_by=blocked,
            score=float(contrib.sum()),
            contributions={c: float(v) for c, v in zip(COMPONENTS, contrib, strict=True)},
            reasons=with_note(
                reasons_for(profile, profile_b, hours, self.config.skill_threshold, self.text_note(profile_b)), note
            ),
        )

    def diagnose(
        self, school: str | SchoolProfile, filters: RequestFilters | None = None, exclude: Iterable[str] = ()
    ) -> Diagnosis:
        """How many candidates each rule and filter in force lets through (alone), how many all of them
        do, and how many each filter's removal would add: why a list is empty or short."""
        query, _, profile = self._query(school)
        constraints = self.constraint_set(filters)
        rules = constraints.rules()
        masks = constraints.rule_masks(self.index, query)
        present = self.index.cols().present
        ex_rows = self._exclude_rows(exclude)

        def passing(names: Iterable[str]) -> tuple[int, int]:
            mask = present.copy()
            for name in names:
                mask &= masks[name]
            excluded = int(np.count_nonzero(mask[ex_rows])) if len(ex_rows) else 0
            return int(np.count_nonzero(mask)) - excluded, excluded

        n_allowed, n_excluded = passing(rules)
        set_filters = [n for n, r in rules.items() if r.is_filter]
        return Diagnosis(
            school_id=profile.school_id,
            n_allowed=n_allowed,
            n_excluded=n_excluded,
            rules=tuple(
                RuleCount(n, r.message, int(np.count_nonzero(masks[n])), r.is_filter) for n, r in rules.items()
            ),
            without_filter={f: passing(n for n in rules if n != f)[0] for f in set_filters},
            n_unfiltered=passing(n for n, r in rules.items() if not r.is_filter)[0] if set_filters else n_allowed,
        )


def _top(rows: np.ndarray, scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` best scores; among equal scores at the cut, the lowest rows (``rows`` ascending)."""
    if n >= len(rows):
        return np.arange(len(rows))
    cut = np.partition(scores, len(scores) - n)[len(scores) - n]
    above = np.flatnonzero(scores > cut)
    return np.concatenate([above, np.flatnonzero(scores == cut)[: n - len(above)]])


def _check_k(k: object) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ConfigError(f"k: {k!r} must be a positive integer")


def _school_id(school: str | SchoolProfile) -> str:
    return school.school_id if isinstance(school, SchoolProfile) else school
