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
  re-ranking (``Ranker._diversify``) for the top ``max(ks)``. A rank within that top list is the
  position the user sees; beyond it, the plain score order (at least ``max(ks) + 1``).
* **Beyond accuracy.** The top ``list_k`` of every present, active school in the registry, under the normal
  constraints: coverage (share of the schools that could be suggested which appear in someone's
  list), the Gini coefficient of how often each of them is suggested, the mean country entropy
  (bits) of a list (over the schools whose allowed candidates span two or more countries: a school
  abroad sees only UK candidates), and constraint violations counted by ``pair_violations``, an independent
  profile-level re-implementation of the rules (must be 0).
* **Methods.** ``ranker`` (its configured weights), any ``extra`` configurations, and baselines:
  ``random`` (uniformly among the candidates passing the same filters: a filter search),
  ``tfidf`` (cosine of TF-IDF vectors of theme labels and description, scikit-learn), and
  ``only:<component>`` for each score component alone.
* **Confidence intervals.** Percentile bootstrap over cases (seeded, paired across methods).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
from matching.core.scoring import Scorer, overlap_hours
from matching.errors import MatchingError

PARTNERSHIP_COLUMNS: tuple[str, ...] = ("school_a", "school_b", "source", "date")
JUDGEMENT_COLUMNS: tuple[str, ...] = ("school", "candidate_a", "candidate_b", "better")
DEFAULT_KS: tuple[int, ...] = (1, 5, 10, 20)
_CHUNK_ELEMENTS = 1_500_000  # score-matrix cells per chunk (x 7 components, float32)


class EvaluationInputError(MatchingError, ValueError):
    """A partnerships, judgements or outcomes file is malformed; the message names rows and fields."""


# ============================================================ input files
def _read_table(source: str | Path | pd.DataFrame, what: str) -> tuple[pd.DataFrame, str]:
    if isinstance(source, pd.DataFrame):
        return source.copy(), what
    path = Path(source)
    if not path.is_file():
        raise EvaluationInputError(f"{path}: no such {what} file")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise EvaluationInputError(f"{path}: not a readable CSV file ({exc})") from None
    return frame, str(path)


def _require_columns(frame: pd.DataFrame, required: Sequence[str], allowed: Sequence[str], source: str) -> None:
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise EvaluationInputError(
            f"{source}: missing column(s) {', '.join(missing)}; expected columns: {', '.join(allowed)}"
        )


def _check_ids(
    frame: pd.DataFrame, columns: Sequence[str], index: SchoolIndex | None, unknown: str, source: str
) -> pd.DataFrame:
    """Strip ids; blank ids are errors; unknown ids are errors or dropped (``unknown='skip'``)."""
    if unknown not in ("error", "skip"):
        raise ValueError(f"unknown: {unknown!r} is not one of error, skip")
    problems: list[str] = []
    keep = np.ones(len(frame), dtype=bool)
    for col in columns:
        frame[col] = frame[col].astype(str).str.strip()
        for i, value in enumerate(frame[col]):
            row = i + 2  # header is line 1
            if value in ("", "nan", "None"):
                problems.append(f"line {row}: {col} is empty")
            elif index is not None and value not in index:
                if unknown == "skip":
                    keep[i] = False
                else:
                    problems.append(f"line {row}: {col} {value!r} is not a school_id in the registry")
    if problems:
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise EvaluationInputError(f"{source}: " + "; ".join(problems[:20]) + more)
    return frame[keep].reset_index(drop=True)


def load_partnerships(
    source: str | Path | pd.DataFrame, index: SchoolIndex | None = None, unknown: Literal["error", "skip"] = "error"
) -> pd.DataFrame:
    """Known good partnerships from a CSV (``school_a,school_b[,source,date]``) or a DataFrame.

    Ids are checked against ``index`` when given (``unknown='skip'`` drops pairs with ids not in it);
    a school paired with itself is an error; repeated pairs (in either order) are kept once.
    """
    frame, name = _read_table(source, "partnerships")
    _require_columns(frame, PARTNERSHIP_COLUMNS[:2], PARTNERSHIP_COLUMNS, name)
    frame = _check_ids(frame, ("school_a", "school_b"), index, unknown, name)
    same = np.flatnonzero((frame["school_a"] == frame["school_b"]).to_numpy())
    if len(same):
        lines = ", ".join(str(i + 2) for i in same[:10])
        raise EvaluationInputError(f"{name}: line(s) {lines}: school_a and school_b are the same school")
    for col in PARTNERSHIP_COLUMNS[2:]:
        if col not in frame.columns:
            frame[col] = ""
    key = [tuple(sorted(p)) for p in zip(frame["school_a"], frame["school_b"], strict=True)]
    frame = frame[~pd.Series(key).duplicated().to_numpy()].reset_index(drop=True)
    return frame[list(PARTNERSHIP_COLUMNS)]


def load_judgements(
    source: str | Path | pd.DataFrame, index: SchoolIndex | None = None, unknown: Literal["error", "skip"] = "error"
) -> pd.DataFrame:
    """Pairwise judgements from a CSV ``school,candidate_a,candidate_b,better`` (``better`` is ``a`` or ``b``)."""
    frame, name = _read_table(source, "judgements")
    _require_columns(frame, JUDGEMENT_COLUMNS, JUDGEMENT_COLUMNS, name)
    frame["better"] = frame["better"].astype(str).str.strip().str.lower()
    bad = np.flatnonzero(~frame["better"].isin(["a", "b"]).to_numpy())
    if len(bad):
        shown = "; ".join(f"line {i + 2}: better {frame['better'].iloc[i]!r}" for i in bad[:10])
        raise EvaluationInputError(f"{name}: {shown}: better must be 'a' or 'b'")
    frame = _check_ids(frame, JUDGEMENT_COLUMNS[:3], index, unknown, name)
    return frame[list(JUDGEMENT_COLUMNS)]


# ============================================================ metrics (per case, then averaged)
def recall_at_k(ranks: np.ndarray, k: int) -> float:
    """Share of cases whose true partner is ranked ``k`` or better (ranks start at 1)."""
    ranks = np.asarray(ranks, dtype=float)
    return float(np.mean(ranks <= k)) if len(ranks) else float("nan")


def reciprocal_ranks(ranks: np.ndarray) -> np.ndarray:
    """``1 / rank`` per case (0 for an infinite rank)."""
    return 1.0 / np.asarray(ranks, dtype=float)


def mean_reciprocal_rank(ranks: np.ndarray) -> float:
    """MRR: the mean of ``1 / rank``."""
    return float(np.mean(reciprocal_ranks(ranks))) if len(ranks) else float("nan")


def ndcg_gains(ranks: np.ndarray, k: int) -> np.ndarray:
    """NDCG@k per case with one relevant item: ``1 / log2(rank + 1)`` if ``rank <= k`` else 0."""
    ranks = np.asarray(ranks, dtype=float)
    out = np.zeros(len(ranks))
    hit = ranks <= k
    out[hit] = 1.0 / np.log2(ranks[hit] + 1.0)
    return out


def ndcg_at_k(ranks: np.ndarray, k: int) -> float:
    """Mean NDCG@k (one relevant item per case, so the ideal DCG is 1)."""
    return float(np.mean(ndcg_gains(ranks, k))) if len(ranks) else float("nan")


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative counts (0: everyone equal; (n-1)/n: one takes all)."""
    x = np.sort(np.asarray(counts, dtype=float))
    n = len(x)
    if n == 0 or x.sum() == 0:
        return 0.0
    i = np.arange(1, n + 1)
    return float(np.sum((2 * i - n - 1) * x) / (n * x.sum()))


def lorenz_curve(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lorenz curve of counts: (share of schools, share of suggestions they get), from (0, 0) to (1, 1)."""
    x = np.sort(np.asarray(counts, dtype=float))
    total = x.sum()
    share_schools = np.arange(len(x) + 1) / max(len(x), 1)
    share_counts = np.concatenate([[0.0], np.cumsum(x) / total]) if total > 0 else share_schools.copy()
    return share_schools, share_counts


def entropy_bits(labels: Sequence[object]) -> float:
    """Shannon entropy (bits) of the label distribution of one list (0 for an empty list)."""
    if len(labels) == 0:
        return 0.0
    _, counts = np.unique(np.asarray(labels, dtype=object).astype(str), return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def coverage(counts: np.ndarray) -> float:
    """Share of candidates suggested at least once."""
    counts = np.asarray(counts)
    return float(np.mean(counts > 0)) if len(counts) else float("nan")


def bootstrap_means(
    values: np.ndarray, n_bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Means of the columns of ``values`` (n_cases, n_stats) and percentile-bootstrap intervals.

    The resamples are shared by every column (a paired bootstrap) and drawn as multinomial counts,
    so all resampled means come from one matrix product.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    n = len(values)
    mean = values.mean(axis=0) if n else np.full(values.shape[1], np.nan)
    if n == 0 or n_bootstrap <= 0:
        return mean, np.full_like(mean, np.nan), np.full_like(mean, np.nan)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_bootstrap).astype(np.float64)
    boot = weights @ values / n  # (n_bootstrap, n_stats)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha], axis=0)
    return mean, lo, hi


# ============================================================ independent constraint check
def pair_violations(
    a: SchoolProfile,
    b: SchoolProfile,
    config: RankerConfig | None = None,
    filters: RequestFilters | None = None,
    hidden: bool = False,
) -> list[str]:
    """The hard rules that suggesting ``b`` to ``a`` breaks, checked on the profiles themselves.

    Written apart from ``matching.core.constraints`` (no masks, no index) so it can audit the ranker.
    ``hidden``: the pair's own partnership link is ignored (leave-one-out).
    """
    config = config or RankerConfig()
    return _violations(a, b, frozenset(config.constraints.enabled()), filters or RequestFilters(), hidden)


def _violations(
    a: SchoolProfile, b: SchoolProfile, on: frozenset[str], filters: RequestFilters, hidden: bool
) -> list[str]:
    out = []
    if "cross_border" in on and a.is_uk == b.is_uk:
        out.append("cross_border")
    if "phase_compatible" in on:
        (alo, ahi), (blo, bhi) = vocab.PHASE_AGE_BANDS[a.phase], vocab.PHASE_AGE_BANDS[b.phase]
        if not (alo <= bhi and blo <= ahi):
            out.append("phase_compatible")
    if "ages_overlap" in on and not (a.age_min <= b.age_max and b.age_min <= a.age_max):
        out.append("ages_overlap")
    if "shared_language" in on and not set(a.languages) & set(b.languages):
        out.append("shared_language")
    used = len(b.current_partners) - (1 if hidden and a.school_id in b.current_partners else 0)
    free = b.capacity - used
    if "candidate_available" in on and (not b.active or free <= 0 or a.school_id == b.school_id):
        out.append("candidate_available")
    if (
        "not_already_partners" in on
        and not hidden
        and (b.school_id in a.current_partners or a.school_id in b.current_partners)
    ):
        out.append("not_already_partners")
    if "not_excluded" in on and (b.school_id in a.excluded or a.school_id in b.excluded):
        out.append("not_excluded")
    if filters.countries and b.country not in filters.countries:
        out.append("country_filter")
    if filters.phases and b.phase not in filters.phases:
        out.append("phase_filter")
    if filters.max_timezone_difference is not None:
        diff = abs(vocab.utc_offset_hours(a.timezone) - vocab.utc_offset_hours(b.timezone)) % 24
        if min(diff, 24 - diff) > filters.max_timezone_difference:
            out.append("timezone_filter")
    return out


# ============================================================ score functions
def unit_config(config: RankerConfig) -> RankerConfig:
    """``config`` with every component weight 1: its contributions are the raw component values."""
    return config.model_copy(update={"weights": Weights(**dict.fromkeys(COMPONENTS, 1.0))})


def component_scores(index: SchoolIndex, rows: np.ndarray, config: RankerConfig) -> np.ndarray:
    """Raw (unit-weight) component values ``(len(COMPONENTS), len(rows), n_rows)`` of query rows
    against every row: the ranker's score is ``weights @ component_scores``."""
    scorer = Scorer(index, unit_config(config))
    m = index.matrix[: index.n_rows]
    q = scorer.query_vectors(m[rows])
    out = np.empty((len(COMPONENTS), len(rows), index.n_rows), dtype=np.float32)
    tz = index.cols().tz_offset
    for j, name in enumerate(COMPONENTS):
        if name == "timezone_overlap":
            out[j] = scorer.timezone_term(tz[rows], tz)
        else:
            s = scorer.component_slices[name]
            out[j] = q[:, s] @ m[:, s].T
    return out


def pair_components(
    index: SchoolIndex, school_rows: np.ndarray, candidate_rows: np.ndarray, config: RankerConfig
) -> np.ndarray:
    """Raw (unit-weight) component values ``(n_pairs, len(COMPONENTS))`` of row pairs, vectorised."""
    scorer = Scorer(index, unit_config(config))
    m = index.matrix[: index.n_rows]
    school_rows = np.asarray(school_rows, dtype=np.int64)
    candidate_rows = np.asarray(candidate_rows, dtype=np.int64)
    q = scorer.query_vectors(m[school_rows])
    c = m[candidate_rows]
    out = np.empty((len(school_rows), len(COMPONENTS)), dtype=np.float32)
    tz = index.cols().tz_offset
    for j, name in enumerate(COMPONENTS):
        if name == "timezone_overlap":
            hours = overlap_hours(tz[school_rows], tz[candidate_rows], config.school_day_hours)
            out[:, j] = hours / np.float32(config.school_day_hours)
        else:
            s = scorer.component_slices[name]
            out[:, j] = np.einsum("ij,ij->i", q[:, s], c[:, s])
    return out


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

    def __init__(self, index: SchoolIndex, config: RankerConfig, methods: Sequence[Method], seed: int) -> None:
        self.index = index
        self.config = config
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
            comps = component_scores(self.index, rows, self.config)
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
        chosen = ranker._diversify(rows, s[i, rows], k, div)
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


# ============================================================ the report
@dataclass
class EvaluationReport:
    """Everything one evaluation run measured. ``table`` is the one table (a row per method)."""

    table: pd.DataFrame
    ranks: pd.DataFrame  # one row per leave-one-out case: school, partner, one rank column per method
    exposure: dict[str, np.ndarray]  # method -> suggestion count per candidate school (beyond-accuracy lists)
    country_mix: pd.DataFrame  # method x country: share of all suggestions
    ks: tuple[int, ...] = DEFAULT_KS
    list_k: int = 10
    config_version: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def methods(self) -> list[str]:
        """Method names, in table order."""
        return list(self.table.index)

    def recall_curve(self, max_k: int = 50) -> pd.DataFrame:
        """Recall@k for k = 1..max_k (rows) per method (columns), over the scored cases."""
        ks = np.arange(1, max_k + 1)
        data = {}
        for m in self.methods:
            r = self.ranks[m].dropna().to_numpy()
            data[m] = (r[:, None] <= ks[None, :]).mean(axis=0) if len(r) else np.full(len(ks), np.nan)
        return pd.DataFrame(data, index=pd.Index(ks, name="k"))

    def compare(self, a: str, b: str, n_bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
        """Change of each accuracy metric from method ``b`` to method ``a``, with a paired bootstrap interval
        (resampling the same cases for both): an interval above 0 means ``a`` is better on these cases."""
        ra, rb = self.ranks[a].to_numpy(), self.ranks[b].to_numpy()
        ok = ~(np.isnan(ra) | np.isnan(rb))
        labels = [*(f"recall@{k}" for k in self.ks), "MRR", "NDCG@10"]

        def per_case(r: np.ndarray) -> np.ndarray:
            return np.column_stack([*(r <= k for k in self.ks), 1.0 / r, ndcg_gains(r, 10)])

        diff = per_case(ra[ok]) - per_case(rb[ok])
        mean, lo, hi = bootstrap_means(diff, n_bootstrap, confidence, seed)
        return pd.DataFrame({"change": mean, "lo": lo, "hi": hi}, index=pd.Index(labels, name="metric"))

    def lorenz(self, method: str) -> tuple[np.ndarray, np.ndarray]:
        """Lorenz curve of the suggestion counts of one method."""
        return lorenz_curve(self.exposure[method])

    def summary(self, digits: int = 3) -> pd.DataFrame:
        """The table for people: point estimates with their confidence interval as text."""
        t = self.table
        out = pd.DataFrame(index=t.index)
        out["cases"] = t["cases"].astype(int)
        for col in [*(f"recall@{k}" for k in self.ks), "MRR", "NDCG@10", "agreement"]:
            if col not in t.columns:
                continue
            out[col] = [
                f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]" if np.isfinite(v) else "-"
                for v, lo, hi in zip(t[col], t[f"{col}_lo"], t[f"{col}_hi"], strict=True)
            ]
        lk = self.list_k
        out[f"coverage@{lk}"] = t[f"coverage@{lk}"].map(lambda v: f"{v:.{digits}f}")
        out[f"gini@{lk}"] = t[f"gini@{lk}"].map(lambda v: f"{v:.{digits}f}")
        out[f"country_entropy@{lk}"] = t[f"country_entropy@{lk}"].map(lambda v: f"{v:.2f}")
        out["violations"] = t["violations"].astype(int)
        return out

    def to_markdown(self, digits: int = 3) -> str:
        """``summary()`` as a Markdown table."""
        s = self.summary(digits)
        header = ["method", *s.columns]
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        for name, row in s.iterrows():
            lines.append("| " + " | ".join([str(name), *(str(v) for v in row)]) + " |")
        return "\n".join(lines)


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
) -> EvaluationReport:
    """Evaluate the ranker and the baselines on known partnerships (and judgements) in one run.

    See the module docstring for the protocol. ``extra`` adds weightings to compare (e.g. a learned
    configuration); ``diversity`` overrides the configured re-ranking (``'none'`` for plain score
    order). The index is not modified.
    """
    index = ranker.index
    config = ranker.config
    div = ranker._diversity(diversity)
    ks = tuple(sorted(set(int(k) for k in ks)))
    if not ks or ks[0] < 1:
        raise ValueError(f"ks: {ks} must be positive integers")
    pairs = load_partnerships(partnerships, index, unknown)
    judged = load_judgements(judgements, index, unknown) if judgements is not None else None
    methods = default_methods(config, extra, baselines)
    names = [m.name for m in methods]
    scores_of = _Scores(index, config, methods, seed)
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
                violations[name] += _count_violations(index, config, cset.filters, a_rows, lists, b_rows, checked)
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
                violations[name] += _count_violations(index, config, cset.filters, rows, lists, None, checked)
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
    return EvaluationReport(
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


def _count_violations(
    index: SchoolIndex,
    config: RankerConfig,
    filters: RequestFilters,
    query_rows: np.ndarray,
    lists: np.ndarray,
    targets: np.ndarray | None,
    checked: dict[tuple[int, int, bool], list[str]],
) -> int:
    """Suggestions in ``lists`` that break a hard rule by ``pair_violations`` (cached per pair)."""
    total = 0
    on = frozenset(config.constraints.enabled())
    for i, (a, lst) in enumerate(zip(query_rows, lists, strict=True)):
        for b in lst[lst >= 0]:
            hidden = targets is not None and b == targets[i]
            k = (int(a), int(b), bool(hidden))
            if k not in checked:
                checked[k] = _violations(index.profiles[a], index.profiles[b], on, filters, hidden)  # type: ignore[arg-type]
            total += bool(checked[k])
    return total


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
