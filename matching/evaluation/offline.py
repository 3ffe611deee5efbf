"""Offline evaluation of the ranker: leave-one-out ranks of known partnerships, beyond-accuracy
metrics and baselines, all in one run and one table.

Protocol (``evaluate``):

* **Leave-one-out.** Every known partnership ``(a, b)`` gives two cases, ``a -> b`` and ``b -> a``.
  The pair is hidden first: if the registry lists them as partners, the link is ignored (the pair
  is allowed again and the capacity it used is given back), so it cannot leak through the
  ``not_already_partners`` or capacity rules. The *other* known partners of the asking school
  (from the registry and from the file) are left out of its candidates ("filtered" ranking), so
  they neither count as hits nor push the true partner down. Cases whose pair the hard
  constraints block anyway (e.g. the partner is now inactive) are counted in ``blocked`` and left
  out of the accuracy metrics: no method could suggest them.
* **Ranks.** Every method is one score function put through the same pipeline: the same allowed
  mask, ties broken by one seeded random order of the candidates, the configured diversity
  re-ranking (``Ranker.diversify``) for the top ``max(ks)``. A rank within that top list is the
  position the user sees; beyond it, the plain score order (at least ``max(ks) + 1``).
* **Beyond accuracy.** The top ``list_k`` of every present, active school in the registry, under the normal
  constraints: coverage (share of the schools that could be suggested which appear in someone's
  list), the Gini coefficient of how often each of them is suggested, the mean country entropy
  (bits) of a list (over the schools whose allowed candidates span two or more countries: a school
  abroad sees only UK candidates), and constraint violations counted by ``audit.pair_violations``, an independent
  profile-level re-implementation of the rules (must be 0).
* **Methods.** ``ranker`` (its configured weights), any ``extra`` configurations, and baselines:
  ``random`` (uniformly among the candidates passing the same filters: a filter search),
  ``tfidf`` (cosine of TF-IDF vectors of theme labels and description, scikit-learn), and
  ``only:<component>`` for each score component alone.
* **Confidence intervals.** Percentile bootstrap over cases (seeded, paired across methods).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from tqdm.auto import tqdm

from features import vocab
from features.blocks import description_text
from features.profiles import SchoolProfile
from matching.core.config import COMPONENTS, Diversity, RankerConfig, Weights
from matching.core.constraints import ConstraintSet, Query, RequestFilters
from matching.core.index import SchoolIndex
from matching.core.ranker import Ranker
from matching.core.scoring import Scorer
from matching.evaluation.audit import count_violations
from matching.evaluation.loaders import load_judgements, load_partnerships
from matching.evaluation.metrics import bootstrap_means, coverage, entropy_bits, gini, ndcg_gains
from matching.evaluation.principles import principle_checks
from matching.evaluation.report import DEFAULT_KS, EvaluationReport

_CHUNK_ELEMENTS = 1_500_000  # score-matrix cells per chunk (x 7 components, float32)


# ============================================================ score functions
def unit_config(config: RankerConfig) -> RankerConfig:
    """``config`` with every component weight 1: its contributions are the raw component values."""
    return config.model_copy(update={"weights": Weights(**dict.fromkeys(COMPONENTS, 1.0))})


def unit_scorer(index: SchoolIndex, config: RankerConfig, shown: np.ndarray | None = None) -> Scorer:
    """A scorer of ``unit_config(config)``; ``shown``: the popularity prior's counts (``Ranker.fit_exposure``), needed
    when ``config.exposure.prior`` is on (fitted here on a ranker of ``config`` when not given)."""
    scorer = Scorer(index, unit_config(config))
    if config.exposure.prior:
        scorer.shown = shown if shown is not None else Ranker(index, config).fit_exposure()
    return scorer


def component_scores(
    index: SchoolIndex, rows: np.ndarray, config: RankerConfig, shown: np.ndarray | None = None
) -> np.ndarray:
    """Raw (unit-weight) component values ``(len(COMPONENTS), len(rows), n_rows)`` of query rows
    against every row: the ranker's score is ``weights @ component_scores`` (``Scorer.component_matrix``)."""
    return unit_scorer(index, config, shown).component_matrix(np.asarray(rows, dtype=np.int64))


def pair_components(
    index: SchoolIndex,
    school_rows: np.ndarray,
    candidate_rows: np.ndarray,
    config: RankerConfig,
    shown: np.ndarray | None = None,
) -> np.ndarray:
    """Raw (unit-weight) component values ``(n_pairs, len(COMPONENTS))`` of row pairs (``Scorer.pair_components``)."""
    return unit_scorer(index, config, shown).pair_components(school_rows, candidate_rows)


def school_text(profile: SchoolProfile) -> str:
    """Theme labels and description: the text of the TF-IDF baseline."""
    return " ".join([*(vocab.theme_label(t) for t in profile.themes), description_text(profile.description)])


@dataclass(frozen=True)
class Method:
    """One score function: ``weights`` over the components, ``tfidf`` or ``random``."""

    name: str
    kind: Literal["weights", "tfidf", "random"]
    weights: np.ndarray | None = None


def default_methods(
    config: RankerConfig, extra: Mapping[str, Weights | RankerConfig] | None = None, baselines: bool = True
) -> list[Method]:
    """The ranker, extra weightings, then (with ``baselines``) random, tfidf and each component alone."""
    methods = [Method("ranker", "weights", _weights_array(config))]
    for name, w in (extra or {}).items():
        methods.append(Method(name, "weights", _weights_array(w)))
    if baselines:
        methods += [Method("random", "random"), Method("tfidf", "tfidf")]
        for j, c in enumerate(COMPONENTS):
            one = np.zeros(len(COMPONENTS), dtype=np.float32)
            one[j] = 1.0
            methods.append(Method(f"only:{c}", "weights", one))
    return methods


def _weights_array(w: Weights | RankerConfig) -> np.ndarray:
    weights = w.weights if isinstance(w, RankerConfig) else w
    return np.array([weights.as_dict()[c] for c in COMPONENTS], dtype=np.float32)


class _Scores:
    """Score matrices of every method for chunks of query rows."""

    def __init__(
        self, index: SchoolIndex, config: RankerConfig, methods: Sequence[Method], seed: int, shown: np.ndarray | None
    ) -> None:
        self.index = index
        self.config = config
        self.scorer = unit_scorer(index, config, shown)
        self.methods = list(methods)
        self.rng = np.random.default_rng([seed, 1])
        self.tfidf = None
        if any(m.kind == "tfidf" for m in methods):
            texts = [school_text(p) if p is not None else "" for p in index.profiles[: index.n_rows]]
            vec = TfidfVectorizer(sublinear_tf=True, stop_words="english")
            self.tfidf = vec.fit_transform(texts).tocsr()

    def __call__(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        comps = None
        if any(m.kind == "weights" for m in self.methods):
            comps = self.scorer.component_matrix(np.asarray(rows, dtype=np.int64))
        for m in self.methods:
            if m.kind == "weights":
                out[m.name] = np.tensordot(m.weights, comps, axes=1)
            elif m.kind == "tfidf":
                out[m.name] = (self.tfidf[rows] @ self.tfidf.T).toarray().astype(np.float32)
            else:
                out[m.name] = self.rng.random((len(rows), self.index.n_rows), dtype=np.float32)
        return out


# ============================================================ ranking one chunk
def _top_lists(
    ranker: Ranker, scores: np.ndarray, allowed: np.ndarray, key: np.ndarray, k: int, div: Diversity
) -> np.ndarray:
    """Top ``k`` rows per query (-1 padded): score order with the tie-break key, then diversity."""
    m, n = scores.shape
    pool = k if div.method == "none" else k * div.pool
    s = np.where(allowed, scores, -np.inf)
    thr = np.partition(s, n - pool, axis=1)[:, n - pool] if pool < n else np.full(m, -np.inf)
    out = np.full((m, k), -1, dtype=np.int64)
    for i in range(m):
        cand = np.flatnonzero(allowed[i] & (s[i] >= thr[i]))
        if len(cand) == 0:
            continue
        order = np.lexsort((key[cand], -s[i, cand]))[:pool]
        rows = cand[order]
        chosen = ranker.diversify(rows, s[i, rows], k, div)
        out[i, : len(chosen)] = rows[chosen]
    return out


def _target_ranks(
    scores: np.ndarray, allowed: np.ndarray, key: np.ndarray, targets: np.ndarray, lists: np.ndarray
) -> np.ndarray:
    """Rank of each target row: its position in the shown list, else its plain score rank (> list length)."""
    idx = np.arange(len(targets))
    s = np.where(allowed, scores, -np.inf)
    sb = s[idx, targets][:, None]
    kb = key[targets][:, None]
    plain = 1 + ((s > sb) | ((s == sb) & (key[None, :] < kb))).sum(axis=1)
    ranks = np.maximum(plain, lists.shape[1] + 1).astype(float)
    hit_i, hit_pos = np.nonzero(lists == targets[:, None])
    ranks[hit_i] = hit_pos + 1
    ranks[~allowed[idx, targets]] = np.nan
    return ranks


# ============================================================ the run
def evaluate(
    ranker: Ranker,
    partnerships: pd.DataFrame | str | Path,
    judgements: pd.DataFrame | str | Path | None = None,
    *,
    extra: Mapping[str, Weights | RankerConfig] | None = None,
    baselines: bool = True,
    filters: RequestFilters | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    list_k: int = 10,
    diversity: Diversity | str | None = None,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    unknown: Literal["error", "skip"] = "error",
    progress: bool = True,
    principles: bool = False,
) -> EvaluationReport:
    """Evaluate the ranker and the baselines on known partnerships (and judgements) in one run.

    See the module docstring for the protocol. ``extra`` adds weightings to compare (e.g. a learned
    configuration); ``diversity`` overrides the configured re-ranking (``'none'`` for plain score
    order); ``principles`` adds the pairwise principle checks of the ranker and the ``extra`` weightings
    (``principles.principle_checks``). The index is not modified.
    """
    index = ranker.index
    config = ranker.config
    div = ranker.resolve_diversity(diversity)
    ks = tuple(sorted(set(int(k) for k in ks)))
    if not ks or ks[0] < 1:
        raise ValueError(f"ks: {ks} must be positive integers")
    pairs = load_partnerships(partnerships, index, unknown)
    judged = load_judgements(judgements, index, unknown) if judgements is not None else None
    methods = default_methods(config, extra, baselines)
    names = [m.name for m in methods]
    if config.exposure.prior:
        ranker.prepare()
    scores_of = _Scores(index, config, methods, seed, ranker.scorer.shown)
    n = index.n_rows
    key = np.random.default_rng([seed, 0]).permutation(n)  # one random tie-break order for all methods
    cset = ranker.constraint_set(filters)
    on = set(config.constraints.enabled())
    notes = []

    # ---------------- leave-one-out cases (both directions)
    qa = np.concatenate([index.rows(pairs["school_a"]), index.rows(pairs["school_b"])])
    qb = np.concatenate([index.rows(pairs["school_b"]), index.rows(pairs["school_a"])])
    known: dict[int, set[int]] = {}
    for x, y in zip(qa, qb, strict=True):
        known.setdefault(int(x), set()).add(int(y))
    base_rules = config.constraints.model_copy(update={"not_already_partners": False, "candidate_available": False})
    base_set = ConstraintSet(base_rules, cset.filters)
    cols = index.cols()
    available = cols.present & cols.active & (cols.free_capacity > 0)
    order = np.argsort(qa, kind="stable")
    case_ranks = {name: np.full(len(qa), np.nan) for name in names}
    checked: dict[tuple[int, int, bool], list[str]] = {}
    violations = dict.fromkeys(names, 0)
    chunk = max(1, _CHUNK_ELEMENTS // max(n, 1))
    with tqdm(total=len(qa) + n, desc="evaluate", disable=not progress) as bar:
        for start in range(0, len(order), chunk):
            cases = order[start : start + chunk]
            a_rows, b_rows = qa[cases], qb[cases]
            allowed = base_set.allowed(index, Query.registered(index, a_rows))
            b_ok = allowed[np.arange(len(cases)), b_rows].copy()
            if "candidate_available" in on:
                allowed &= available[None, :]
            allowed[np.arange(len(cases)), a_rows] = False
            for i, (a, b) in enumerate(zip(a_rows, b_rows, strict=True)):
                pa = index.profiles[a]
                drop = set(known[int(a)])
                if "not_already_partners" in on:
                    drop |= {index.row_of[s] for s in pa.current_partners if s in index.row_of}
                    drop |= index.partner_of.get(pa.school_id, set())
                drop.discard(int(b))
                if drop:
                    allowed[i, list(drop)] = False
                if "candidate_available" in on:
                    b_ok[i] &= bool(cols.present[b] and cols.active[b]) and _free_after_hiding(
                        index.profiles[b], pa.school_id
                    )
                allowed[i, b] = b_ok[i]
            chunk_scores = scores_of(a_rows)
            for name in names:
                lists = _top_lists(ranker, chunk_scores[name], allowed, key, max(ks), div)
                case_ranks[name][cases] = _target_ranks(chunk_scores[name], allowed, key, b_rows, lists)
                violations[name] += count_violations(index, config, cset.filters, a_rows, lists, b_rows, checked)
            bar.update(len(cases))

        # ---------------- beyond accuracy: every present school's top list_k under the normal rules
        queries = np.flatnonzero(cols.present & cols.active)
        exposure = {name: np.zeros(n, dtype=np.int64) for name in names}
        entropies: dict[str, list[float]] = {name: [] for name in names}
        country_counts: dict[str, dict[str, int]] = {name: {} for name in names}
        candidate_pool = np.zeros(n, dtype=bool)
        for start in range(0, len(queries), chunk):
            rows = queries[start : start + chunk]
            allowed = cset.allowed(index, Query.registered(index, rows))
            candidate_pool |= allowed.any(axis=0)
            # country diversity is only possible where the allowed candidates span 2+ countries
            varied = [len(np.unique(cols.country[row])) > 1 for row in allowed]
            chunk_scores = scores_of(rows)
            for name in names:
                lists = _top_lists(ranker, chunk_scores[name], allowed, key, list_k, div)
                valid = lists[lists >= 0]
                np.add.at(exposure[name], valid, 1)
                for lst, ok in zip(lists, varied, strict=True):
                    if ok:
                        entropies[name].append(entropy_bits(cols.country[lst[lst >= 0]]))
                for c, cnt in zip(*np.unique(cols.country[valid], return_counts=True), strict=True):
                    country_counts[name][str(c)] = country_counts[name].get(str(c), 0) + int(cnt)
                violations[name] += count_violations(index, config, cset.filters, rows, lists, None, checked)
            bar.update(len(rows))

    # ---------------- judgements
    agreement = None
    if judged is not None and len(judged):
        agreement = _agreement(index, judged, scores_of, names, n_bootstrap, confidence, seed)

    # ---------------- the table
    scored = ~np.isnan(case_ranks[names[0]])
    blocked = int((~scored).sum())
    if blocked:
        notes.append(f"{blocked} of {len(qa)} leave-one-out cases are blocked by hard constraints (left out)")
    stats = []
    labels = [*(f"recall@{k}" for k in ks), "MRR", "NDCG@10"]
    for name in names:
        r = case_ranks[name][scored]
        stats.append(np.column_stack([*(r <= k for k in ks), 1.0 / r, ndcg_gains(r, 10)]))
    values = np.hstack(stats) if stats else np.zeros((0, 0))
    mean, lo, hi = bootstrap_means(values, n_bootstrap, confidence, seed)
    per = len(labels)
    rows_out = []
    pool_rows = np.flatnonzero(candidate_pool)
    for j, name in enumerate(names):
        row: dict[str, float] = {"cases": float(scored.sum()), "blocked": float(blocked)}
        for i, label in enumerate(labels):
            row[label] = mean[j * per + i]
            row[f"{label}_lo"] = lo[j * per + i]
            row[f"{label}_hi"] = hi[j * per + i]
        counts = exposure[name][pool_rows]
        row[f"coverage@{list_k}"] = coverage(counts)
        row[f"gini@{list_k}"] = gini(counts)
        row[f"country_entropy@{list_k}"] = float(np.mean(entropies[name])) if entropies[name] else 0.0
        row["violations"] = float(violations[name])
        if agreement is not None:
            row["agreement"], row["agreement_lo"], row["agreement_hi"] = agreement[name]
        rows_out.append(row)
    table = pd.DataFrame(rows_out, index=pd.Index(names, name="method"))
    table[["cases", "blocked", "violations"]] = table[["cases", "blocked", "violations"]].astype(int)
    ranks = pd.DataFrame(
        {
            "school": [index.columns.ids[r] for r in qa],
            "partner": [index.columns.ids[r] for r in qb],
            **{name: case_ranks[name] for name in names},
        }
    )
    mix = pd.DataFrame(country_counts).T.fillna(0.0)
    mix = mix.div(mix.sum(axis=1).replace(0, 1), axis=0).loc[names]
    mix = mix[mix.sum().sort_values(ascending=False).index]
    checks = None
    if principles:
        configs = {
            name: w if isinstance(w, RankerConfig) else config.model_copy(update={"weights": w})
            for name, w in (extra or {}).items()
        }
        checks = principle_checks(ranker, configs, seed=seed)
    return EvaluationReport(
        principles=checks,
        table=table,
        ranks=ranks,
        exposure={name: exposure[name][pool_rows] for name in names},
        country_mix=mix,
        ks=ks,
        list_k=list_k,
        config_version=config.version,
        notes=notes,
    )


def _free_after_hiding(b: SchoolProfile, a_id: str) -> bool:
    """Whether ``b`` has a free place once its link to ``a`` (if any) is hidden."""
    used = len(b.current_partners) - (1 if a_id in b.current_partners else 0)
    return b.capacity - used > 0


def _agreement(
    index: SchoolIndex,
    judged: pd.DataFrame,
    scores_of: _Scores,
    names: Sequence[str],
    n_bootstrap: int,
    confidence: float,
    seed: int,
) -> dict[str, tuple[float, float, float]]:
    """Share of judgements where a method scores the better candidate higher (a tie counts half)."""
    schools = index.rows(judged["school"])
    ra, rb = index.rows(judged["candidate_a"]), index.rows(judged["candidate_b"])
    better_a = (judged["better"] == "a").to_numpy()
    uniq, inv = np.unique(schools, return_inverse=True)
    agree = np.zeros((len(judged), len(names)))
    for start in range(0, len(uniq), 256):
        sel = np.flatnonzero((inv >= start) & (inv < start + 256))
        s = scores_of(uniq[start : start + 256])
        for j, name in enumerate(names):
            sa = s[name][inv[sel] - start, ra[sel]]
            sb = s[name][inv[sel] - start, rb[sel]]
            agree[sel, j] = np.where(sa == sb, 0.5, np.where(better_a[sel], sa > sb, sb > sa))
    mean, lo, hi = bootstrap_means(agree, n_bootstrap, confidence, seed)
    return {name: (mean[j], lo[j], hi[j]) for j, name in enumerate(names)}
