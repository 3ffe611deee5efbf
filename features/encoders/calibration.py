"""Calibration: make one model's cosines read on another model's scale, in vector space.

The text component of the score is a dot product of unit vectors, so a calibration must be a map of the
vectors themselves (a cosine-to-cosine map cannot be applied inside the ranker's matrix products and bounds).
Models differ mostly by a shared direction: multilingual-e5 puts every text near one common vector, so any
two unrelated texts score 0.8. Subtracting part of the model's mean vector, ``x -> unit(x - s * centre)``,
moves the typical cosine of two unrelated texts down; ``s`` is chosen so that it equals the reference
model's (all-MiniLM-L6-v2, the model the default weights were tuned with) on the same reference texts.
The calibration is stored with the model, as ``features/encoders/calibration/<model>.json``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from features.errors import EncoderError
from features.text import TextEncoder

REFERENCE_MODEL = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class Calibration:
    """``x -> unit(x - strength * centre)`` for one model, plus the figures it was fitted on."""

    model: str
    centre: np.ndarray
    strength: float
    reference: str = REFERENCE_MODEL
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        """A short fingerprint: part of the calibrated encoder's name, so cached vectors follow the calibration."""
        digest = hashlib.sha256(np.asarray(self.centre, np.float32).tobytes() + repr(self.strength).encode())
        return digest.hexdigest()[:8]

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Calibrated unit rows."""
        y = np.asarray(x, dtype=np.float32) - np.float32(self.strength) * self.centre.astype(np.float32)
        return y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)

    def to_json(self) -> str:
        """The calibration as JSON (the centre rounded to 6 decimals)."""
        return json.dumps(
            {
                "model": self.model,
                "reference": self.reference,
                "strength": round(self.strength, 6),
                "stats": {k: round(v, 4) for k, v in self.stats.items()},
                "centre": [round(float(v), 6) for v in self.centre],
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str, source: str = "calibration") -> Calibration:
        """Read ``to_json``'s output; a broken file names what is wrong."""
        try:
            data = json.loads(text)
            return cls(
                model=str(data["model"]),
                centre=np.asarray(data["centre"], dtype=np.float32),
                strength=float(data["strength"]),
                reference=str(data.get("reference", REFERENCE_MODEL)),
                stats={k: float(v) for k, v in data.get("stats", {}).items()},
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise EncoderError(f"{source}: not a calibration file ({exc!r})") from exc


def calibration_path(model: str) -> Path:
    """Where the calibration of ``model`` is kept (inside the package)."""
    return Path(str(resources.files("features.encoders") / "calibration" / f"{model}.json"))


def load_calibration(model: str) -> Calibration:
    """The stored calibration of ``model``."""
    path = calibration_path(model)
    if not path.is_file():
        raise EncoderError(
            f"no calibration for the model {model!r} at {path}; "
            "write it with: python benchmarks/bench_encoders.py --write-calibration"
        )
    cal = Calibration.from_json(path.read_text(encoding="utf-8"), str(path))
    if cal.model != model:
        raise EncoderError(f"{path} calibrates the model {cal.model!r}, not {model!r}")
    return cal


class CalibratedEncoder:
    """An encoder whose vectors go through a ``Calibration``; its name records model and calibration."""

    def __init__(self, base: TextEncoder, calibration: Calibration) -> None:
        if calibration.model != base.name:
            raise EncoderError(f"the calibration is for {calibration.model!r}, the encoder is {base.name!r}")
        if calibration.centre.shape != (base.dim,):
            raise EncoderError(
                f"the calibration's centre has shape {calibration.centre.shape}, the model has {base.dim} dimensions"
            )
        self.base = base
        self.calibration = calibration
        self.name = f"{base.name}+cal-{calibration.tag}"
        self.dim = base.dim
        self.languages: frozenset[str] = getattr(base, "languages", frozenset())

    def __sklearn_clone__(self) -> CalibratedEncoder:
        """Shared, not copied, when scikit-learn clones an estimator holding it."""
        return self

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """The base model's vectors, calibrated."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.calibration.apply(self.base.encode(texts, progress=progress))


def mean_pair_cosine(x: np.ndarray) -> float:
    """Mean cosine over all pairs of distinct rows of unit rows ``x``."""
    n = len(x)
    s = x.sum(axis=0)
    return float((s @ s - n) / (n * (n - 1)))


def fit_calibration(model: str, vectors: np.ndarray, target: float, reference: str = REFERENCE_MODEL) -> Calibration:
    """The strength in [0, 1] that brings the mean pairwise cosine of ``vectors`` (a model's unit vectors of
    reference texts) down to ``target`` (the reference model's on the same texts); bisection (monotone)."""
    centre = vectors.mean(axis=0).astype(np.float32)
    raw = mean_pair_cosine(vectors)
    lo, hi = 0.0, 1.0
    if raw <= target:
        hi = 0.0  # already spread as widely as the reference: leave it
    for _ in range(50):
        mid = (lo + hi) / 2
        if mean_pair_cosine(Calibration(model, centre, mid).apply(vectors)) > target:
            lo = mid
        else:
            hi = mid
    strength = (lo + hi) / 2
    stats = {"raw_mean_pair_cosine": raw, "target_mean_pair_cosine": target, "texts": float(len(vectors))}
    return Calibration(model, centre, strength, reference, stats)
