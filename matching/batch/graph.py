"""The sparse candidate graph of a batch and the operations on it.

A ``CandidateGraph`` is three aligned arrays ``(src, dst, score)`` over local positions (``src`` into
``uk_rows``, ``dst`` into ``intl_rows``), plus per-school counts that explain later why a school was left
unmatched. It is built by ``matching.batch.candidates.build_candidates``; the edge orders here (integer
sorts, ties by position) make every result independent of how the edges were found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "CandidateGraph",
    "descending_key",
    "drop_taken",
    "edge_groups",
    "edge_order",
    "full_graph",
    "grouped_best_first",
    "score_order",
    "union",
]


@dataclass(frozen=True)
class CandidateGraph:
    """Each UK school's top-K eligible candidates abroad, as aligned arrays.

    Eligible = allowed by every hard constraint, not forbidden, with free places, and scoring at
    least the minimum score. Edges of one UK school are contiguous, best first.
    """

    uk_rows: np.ndarray  # int64 (n_uk,) index rows of the UK side
    intl_rows: np.ndarray  # int64 (n_intl,) index rows of the side abroad
    src: np.ndarray  # int32 (E,) position in uk_rows
    dst: np.ndarray  # int32 (E,) position in intl_rows
    score: np.ndarray  # float32 (E,) the UK school's score of the candidate
    top_k: int
    n_compatible: np.ndarray  # int32 (n_uk,) candidates passing every hard constraint (full ones included)
    n_open: np.ndarray  # int32 (n_uk,) ... of which have free places
    n_eligible: np.ndarray  # int32 (n_uk,) ... of which score at least the minimum score
    best_open: np.ndarray  # float32 (n_uk,) best score among open candidates (nan if none)
    intl_compatible: np.ndarray  # bool (n_intl,) allowed for at least one queried UK school
    intl_eligible: np.ndarray  # bool (n_intl,) eligible for at least one queried UK school

    @property
    def n_edges(self) -> int:
        """Number of candidate pairs."""
        return len(self.src)

    def without(self, keep: np.ndarray) -> CandidateGraph:
        """The same graph with only the edges where ``keep`` is True."""
        return CandidateGraph(
            self.uk_rows, self.intl_rows, self.src[keep], self.dst[keep], self.score[keep], self.top_k,
            self.n_compatible, self.n_open, self.n_eligible, self.best_open, self.intl_compatible, self.intl_eligible,
        )  # fmt: skip


def descending_key(score: np.ndarray) -> np.ndarray:
    """int64 sort keys of float32 scores: ascending keys = descending scores (``-0.0`` equals ``0.0``)."""
    bits = (np.asarray(score, dtype=np.float32) + np.float32(0)).view(np.uint32).astype(np.int64)
    ascending = np.where(bits >= 1 << 31, (1 << 32) - 1 - bits, bits | (1 << 31))  # orders like the floats
    return (1 << 32) - 1 - ascending


def grouped_best_first(owner: np.ndarray, score: np.ndarray) -> np.ndarray:
    """The order that groups entries by ``owner`` (ascending) and puts each group's best scores first; ties
    keep their input order. Same as ``np.lexsort((-score, owner))`` with a stable tie order, one integer sort
    (``owner`` below 2**31)."""
    key = (np.asarray(owner, dtype=np.int64) << 32) | descending_key(score)
    return np.argsort(key, kind="stable")


def edge_order(src: np.ndarray, dst: np.ndarray, score: np.ndarray, n_dst: int, unique: bool = False) -> np.ndarray:
    """Edge positions ordered by ``src``, score descending, then ``dst``; ``unique``: the first occurrence
    of each ``(src, dst)`` only."""
    pair = np.asarray(src, dtype=np.int64) * max(1, n_dst) + dst
    by_pair = np.argsort(pair, kind="stable")
    if unique and len(by_pair):
        sorted_pair = pair[by_pair]
        first = np.ones(len(by_pair), dtype=bool)
        first[1:] = sorted_pair[1:] != sorted_pair[:-1]
        by_pair = by_pair[first]
    return by_pair[grouped_best_first(src[by_pair], score[by_pair])]


def score_order(src: np.ndarray, dst: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Edge positions by score descending, then ``src``, then ``dst`` (the greedy baseline's order)."""
    by_pair = np.argsort(np.asarray(src, dtype=np.int64) * (int(np.max(dst, initial=0)) + 1) + dst, kind="stable")
    return by_pair[np.argsort(descending_key(score[by_pair]), kind="stable")]


def drop_taken(
    graph: CandidateGraph, forced: np.ndarray, one_per_country: bool, ab_country: np.ndarray
) -> CandidateGraph:
    """Without the ``forced`` pairs ((F, 2) local (uk, abroad): already made) and, with one per country, the
    countries they fill."""
    if len(forced) == 0 or graph.n_edges == 0:
        return graph
    n_ab = len(graph.intl_rows)
    keep = ~np.isin(graph.src.astype(np.int64) * n_ab + graph.dst, forced[:, 0] * n_ab + forced[:, 1])
    if one_per_country:
        _, code = np.unique(ab_country, return_inverse=True)
        width = int(code.max()) + 1
        taken = forced[:, 0] * width + code[forced[:, 1]]
        keep &= ~np.isin(graph.src.astype(np.int64) * width + code[graph.dst], taken)
    return graph.without(keep)


def edge_groups(graph: CandidateGraph, one_per_country: bool, ab_country: np.ndarray) -> np.ndarray | None:
    """With one partner per country: each edge's (UK school, country) group (``None`` otherwise)."""
    if not one_per_country or graph.n_edges == 0:
        return None
    _, code = np.unique(ab_country, return_inverse=True)
    return graph.src.astype(np.int64) * (int(code.max()) + 1) + code[graph.dst]


def union(graph: CandidateGraph, extra: CandidateGraph) -> CandidateGraph:
    """The edges of both graphs, once each, grouped by UK school, best first (counts from ``graph``)."""
    n_ab = max(1, len(graph.intl_rows))
    src = np.concatenate([graph.src, extra.src])
    dst = np.concatenate([graph.dst, extra.dst])
    score = np.concatenate([graph.score, extra.score])
    order = edge_order(src, dst, score, n_ab, unique=True)
    return CandidateGraph(
        graph.uk_rows, graph.intl_rows, src[order], dst[order], score[order], graph.top_k, graph.n_compatible,
        graph.n_open, graph.n_eligible, graph.best_open, graph.intl_compatible, graph.intl_eligible,
    )  # fmt: skip


def full_graph(sub: CandidateGraph, seek: np.ndarray, uk_rows: np.ndarray) -> CandidateGraph:
    """A graph over a subset of UK schools, re-indexed over all of them."""
    n = len(uk_rows)

    def spread(values: np.ndarray, fill: float) -> np.ndarray:
        out = np.full(n, fill, dtype=values.dtype)
        out[seek] = values
        return out

    return CandidateGraph(
        uk_rows=uk_rows, intl_rows=sub.intl_rows, src=seek[sub.src].astype(np.int32), dst=sub.dst, score=sub.score,
        top_k=sub.top_k, n_compatible=spread(sub.n_compatible, 0), n_open=spread(sub.n_open, 0),
        n_eligible=spread(sub.n_eligible, 0), best_open=spread(sub.best_open, np.nan),
        intl_compatible=sub.intl_compatible, intl_eligible=sub.intl_eligible,
    )  # fmt: skip
