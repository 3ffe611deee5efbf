"""The result of one evaluation run: the table, the per-case ranks, exposure and the country mix."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from matching.evaluation.metrics import bootstrap_means, lorenz_curve, ndcg_gains

DEFAULT_KS: tuple[int, ...] = (1, 5, 10, 20)


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
    principles: pd.DataFrame | None = None  # method x principle: pairwise principle checks (``principle_checks``)

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

    def principles_markdown(self, digits: int = 2) -> str:
        """The pairwise principle checks as a Markdown table ('' when they were not run)."""
        if self.principles is None:
            return ""
        return _markdown(self.principles.map(lambda v: f"{v:.{digits}f}"))

    def country_mix_markdown(self, top: int = 8, digits: int = 3) -> str:
        """The share of suggestions per country (the ``top`` most suggested, the rest as ``other``) per method."""
        mix = self.country_mix
        head = mix.iloc[:, :top].copy()
        head["other"] = mix.iloc[:, top:].sum(axis=1)
        return _markdown(head.map(lambda v: f"{v:.{digits}f}"))

    def to_markdown(self, digits: int = 3) -> str:
        """``summary()`` as a Markdown table."""
        return _markdown(self.summary(digits))


def _markdown(s: pd.DataFrame) -> str:
    """A table as Markdown, its index as the first column."""
    header = [str(s.index.name or "method"), *map(str, s.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for name, row in s.iterrows():
        lines.append("| " + " | ".join([str(name), *(str(v) for v in row)]) + " |")
    return "\n".join(lines)
