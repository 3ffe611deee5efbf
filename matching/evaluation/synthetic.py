"""A seeded synthetic history (partnerships and suggestion outcomes) for demos and evaluation.

The history comes from a *latent preference model* that is deliberately **not** the ranker's score,
so evaluating the ranker on it is not circular. It reads the raw profiles only (never the feature
matrix, the embeddings or the ranker's weights). The utility of a pair ``(a, b)`` is::

    u(a, b) = theme_weight     * |themes(a) ∩ themes(b)|                 (count of shared tags)
            + language_weight  * [a and b share a language other than English]
            + skill_weight     * sum_s (want_a,s - t)+ (offer_b,s - t)+ + (offer_a,s - t)+ (want_b,s - t)+
            + engagement_weight * (isa(a) + isa(b)) / 2                   (ISA level in [0, 1])
            + affinity(country(a), country(b))                            (hidden, N(0, affinity_scale^2))
            + popularity(b)                                               (hidden, N(0, popularity_scale^2))

with ``(x)+ = max(x, 0)`` and ``t = skill_threshold``. Descriptions, phases, time zones and regions play
no part, and the hidden country-pair affinities and school popularities cannot be seen in any profile:
no ranker can reach a perfect score.

* **Partnerships**: active schools in random order each pick one partner among the pairs the hard
  constraints allow, by sampling from ``softmax(u / temperature)`` (Gumbel-max); each school takes at
  most its free capacity of them (both sides), and picks at most once as the asking side.
* **Outcomes**: for other active schools (in no generated partnership), ``shown`` candidates (the
  ranker's top k when a ranker is given, else random allowed ones) are accepted with probability
  ``sigmoid((u - threshold) / temperature)``, where ``threshold`` is the ``1 - accept_rate`` quantile
  of ``u`` over the shown pairs; the best accepted one becomes a ``partnership``, the others stay
  ``accepted``; the rest are ``declined``.
* **Judgements**: for ``n_judgements`` random asking schools (with two or more allowed candidates),
  two random allowed candidates; the ``better`` one has the higher ``u`` plus Gumbel noise of scale
  ``temperature`` (a staff member's call, not always the latent optimum).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from features import vocab
from features.profiles import SchoolProfile
from matching.core.config import Constraints
from matching.core.constraints import ConstraintSet, Query
from matching.core.index import SchoolIndex
from matching.core.ranker import Ranker

_ENGLISH = "en"


@dataclass(frozen=True)
class LatentPreferenceModel:
    """The hidden utility of a partnership (see the module docstring). Every field is a knob of it."""

    theme_weight: float = 1.0
    language_weight: float = 1.0
    skill_weight: float = 3.0
    skill_threshold: float = 0.5
    engagement_weight: float = 0.5
    affinity_scale: float = 0.5
    popularity_scale: float = 0.3
    temperature: float = 0.5

    def features(self, profiles: list[SchoolProfile]) -> dict[str, np.ndarray]:
        """Per-school arrays the utility needs (themes one-hot, non-English languages, skills, ISA level)."""
        themes = {t: i for i, t in enumerate(vocab.themes())}
        langs = sorted({lang for p in profiles for lang in p.languages if lang != _ENGLISH})
        lang_pos = {lang: i for i, lang in enumerate(langs)}
        n = len(profiles)
        t = np.zeros((n, len(themes)), dtype=np.float32)
        lg = np.zeros((n, max(1, len(langs))), dtype=np.float32)
        want = np.zeros((n, len(vocab.SKILLS)), dtype=np.float32)
        offer = np.zeros_like(want)
        isa = np.zeros(n, dtype=np.float32)
        for i, p in enumerate(profiles):
            t[i, [themes[x] for x in p.themes]] = 1.0
            lg[i, [lang_pos[x] for x in p.languages if x != _ENGLISH]] = 1.0
            want[i] = p.skills_want.as_tuple()
            offer[i] = p.skills_offer.as_tuple()
            isa[i] = vocab.ISA_LEVELS.index(p.isa_status) / (len(vocab.ISA_LEVELS) - 1)
        th = np.float32(self.skill_threshold)
        return {
            "themes": t,
            "langs": lg,
            "want": np.maximum(want - th, 0),
            "offer": np.maximum(offer - th, 0),
            "isa": isa,
        }

    def utility(
        self,
        f: dict[str, np.ndarray],
        a: np.ndarray,
        b: np.ndarray | slice,
        country_code: np.ndarray,
        affinity: np.ndarray,
        popularity: np.ndarray,
    ) -> np.ndarray:
        """Deterministic utility ``(len(a), n_b)`` of schools ``a`` (positions) with schools ``b``."""
        shared = f["themes"][a] @ f["themes"][b].T
        lang = (f["langs"][a] @ f["langs"][b].T > 0).astype(np.float32)
        skills = f["want"][a] @ f["offer"][b].T + f["offer"][a] @ f["want"][b].T
        engage = (f["isa"][a][:, None] + f["isa"][b][None, :]) / 2
        aff = affinity[country_code[a][:, None], country_code[b][None, :]]
        return (
            self.theme_weight * shared
            + self.language_weight * lang
            + self.skill_weight * skills
            + self.engagement_weight * engage
            + aff
            + popularity[b][None, :]
        ).astype(np.float32)


@dataclass(frozen=True)
class SyntheticHistory:
    """A generated history: ``partnerships`` (school_a, school_b, source, date), ``outcomes``
    (school_id, candidate_id, outcome) and ``judgements`` (school, candidate_a, candidate_b, better),
    in the CSV formats ``matching.evaluation.loaders`` reads."""

    partnerships: pd.DataFrame
    outcomes: pd.DataFrame
    model: LatentPreferenceModel
    judgements: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["school", "candidate_a", "candidate_b", "better"])
    )


def synthetic_history(
    index: SchoolIndex,
    *,
    n_partnerships: int = 200,
    n_outcome_schools: int = 150,
    shown: int = 10,
    accept_rate: float = 0.3,
    n_judgements: int = 0,
    ranker: Ranker | None = None,
    constraints: Constraints | None = None,
    model: LatentPreferenceModel | None = None,
    seed: int = 0,
    progress: bool = False,
) -> SyntheticHistory:
    """Generate a seeded history of partnerships and suggestion outcomes from the latent model.

    The schools asking for the outcomes are in no generated partnership. Only pairs the hard constraints
    allow (``constraints``, or the ranker's, default all on) are generated. ``ranker`` decides which
    candidates were *shown* for the outcomes (its top ``shown``); without one, random allowed
    candidates are shown.
    """
    if not 0 < accept_rate < 1:
        raise ValueError(f"accept_rate: {accept_rate} must be between 0 and 1")
    model = model or LatentPreferenceModel()
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(index.cols().present)
    profiles = [index.profiles[r] for r in rows]
    pos_of_row = np.full(index.n_rows, -1, dtype=np.int64)
    pos_of_row[rows] = np.arange(len(rows))
    f = model.features(profiles)  # type: ignore[arg-type]
    countries = sorted({p.country for p in profiles})  # type: ignore[union-attr]
    code = {c: i for i, c in enumerate(countries)}
    country_code = np.array([code[p.country] for p in profiles])  # type: ignore[union-attr]
    affinity = rng.normal(0, model.affinity_scale, (len(countries), len(countries))).astype(np.float32)
    affinity = (affinity + affinity.T) / np.sqrt(2)  # symmetric, same spread
    popularity = rng.normal(0, model.popularity_scale, len(rows)).astype(np.float32)

    if constraints is None:
        constraints = ranker.config.constraints if ranker is not None else Constraints()
    cset = ConstraintSet(constraints)
    cols = index.cols()
    capacity = cols.free_capacity.astype(np.int64).copy()
    askers = rows[cols.active[rows]]
    order = rng.permutation(askers)
    history_side = order[capacity[order] > 0]
    outcome_side = order[: n_outcome_schools + n_partnerships]

    # ---- partnerships: an asking school picks one partner, softmax(u / T); both need a free place
    pairs: list[tuple[str, str]] = []
    taken: set[int] = set()
    bar = tqdm(total=n_partnerships, desc="synthetic partnerships", disable=not progress)
    for a in history_side:
        if len(pairs) >= n_partnerships:
            break
        if capacity[a] <= 0:
            continue
        mask = cset.allowed(index, Query.registered(index, [a]))[0]
        mask &= capacity > 0
        mask[list(taken)] = False
        cands = np.flatnonzero(mask)
        if len(cands) == 0:
            continue
        u = model.utility(f, pos_of_row[[a]], pos_of_row[cands], country_code, affinity, popularity)[0]
        b = cands[np.argmax(u / model.temperature + rng.gumbel(size=len(cands)))]
        capacity[a] -= 1
        capacity[b] -= 1
        taken.add(int(a))
        pairs.append((index.columns.ids[a], index.columns.ids[b]))
        bar.update(1)
    bar.close()
    in_history = {s for p in pairs for s in p}
    outcome_side = [a for a in order if index.columns.ids[a] not in in_history][:n_outcome_schools]
    start = date(2019, 9, 1)
    days = rng.integers(0, 5 * 365, len(pairs))
    partnerships = pd.DataFrame(
        {
            "school_a": [p[0] for p in pairs],
            "school_b": [p[1] for p in pairs],
            "source": "synthetic",
            "date": [(start + timedelta(days=int(d))).isoformat() for d in days],
        }
    )

    # ---- outcomes of shown suggestions
    records: list[tuple[str, str, float]] = []
    for a in tqdm(outcome_side, desc="synthetic outcomes", disable=not progress):
        aid = index.columns.ids[a]
        if ranker is not None:
            cand_ids = list(ranker.suggest(aid, k=shown).ids)
            cands = index.rows(cand_ids) if cand_ids else np.zeros(0, dtype=np.int64)
        else:
            allowed = np.flatnonzero(cset.allowed(index, Query.registered(index, [a]))[0])
            cands = rng.choice(allowed, size=min(shown, len(allowed)), replace=False)
        if len(cands) == 0:
            continue
        u = model.utility(f, pos_of_row[[a]], pos_of_row[cands], country_code, affinity, popularity)[0]
        records.extend((aid, index.columns.ids[c], float(x)) for c, x in zip(cands, u, strict=True))
    outcomes = pd.DataFrame(records, columns=["school_id", "candidate_id", "utility"])
    if len(outcomes):
        threshold = float(np.quantile(outcomes["utility"], 1 - accept_rate))
        p = 1 / (1 + np.exp(-(outcomes["utility"].to_numpy() - threshold) / model.temperature))
        accepted = rng.random(len(outcomes)) < p
        outcomes["outcome"] = np.where(accepted, "accepted", "declined")
        best = outcomes[accepted].groupby("school_id")["utility"].idxmax()
        outcomes.loc[best.to_numpy(), "outcome"] = "partnership"
    else:
        outcomes["outcome"] = pd.Series(dtype=str)

    # ---- pairwise judgements
    judged: list[tuple[str, str, str, str]] = []
    for a in rng.permutation(askers) if n_judgements else []:
        if len(judged) >= n_judgements:
            break
        allowed = np.flatnonzero(cset.allowed(index, Query.registered(index, [a]))[0])
        if len(allowed) < 2:
            continue
        pair = rng.choice(allowed, size=2, replace=False)
        u = model.utility(f, pos_of_row[[a]], pos_of_row[pair], country_code, affinity, popularity)[0]
        u = u / model.temperature + rng.gumbel(size=2)
        ids = index.columns.ids
        judged.append((ids[a], ids[pair[0]], ids[pair[1]], "a" if u[0] >= u[1] else "b"))
    judgements = pd.DataFrame(judged, columns=["school", "candidate_a", "candidate_b", "better"])
    return SyntheticHistory(partnerships, outcomes[["school_id", "candidate_id", "outcome"]], model, judgements)
