"""The options and the outcome loading that ``learn-weights`` and ``refit`` share (``service.cli.evaluation``,
``service.cli.refit``). Each option is declared here once; the commands give the words that differ.

The shared helpers of ``service.cli.common`` are imported inside the functions, as in the command modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import typer


def outcomes_option(detail: str = "") -> Any:
    """``--outcomes``: the outcomes CSV; ``detail`` follows the columns in the help (e.g. the outcome values)."""
    return typer.Option("--outcomes", help=f"Outcomes CSV: school_id,candidate_id,outcome{detail}.")


def db_option(what: str) -> Any:
    """``--db``: the API's database; ``what`` says what is read from it."""
    return typer.Option("--db", help=f"The API's database (SQLAlchemy URL or SQLite file): {what}.")


def partnerships_option(text: str) -> Any:
    """``--partnerships``/``-p``: known partnerships (a CSV)."""
    return typer.Option("--partnerships", "-p", help=text)


def test_size_option(minimum: float, text: str) -> Any:
    """``--test-size``: the share of schools held out, from ``minimum`` to 0.9."""
    return typer.Option("--test-size", min=minimum, max=0.9, help=text)


def bootstrap_option(minimum: int, text: str | None = None) -> Any:
    """``--bootstrap``: how many bootstrap resamples, at least ``minimum``."""
    return typer.Option("--bootstrap", min=minimum, help=text)


def require_outcomes(outcomes: Path | None, db: str | None) -> None:
    """A usage error unless at least one source of outcomes is given."""
    if outcomes is None and db is None:
        raise typer.BadParameter("give --outcomes FILE and/or --db URL", param_hint="--outcomes")


def read_outcomes(outcomes: Path | None, db: str | None) -> pd.DataFrame:
    """The outcomes of the CSV and/or the database, one frame; exits 2 when there are none."""
    from matching.evaluation import load_feedback_db, load_outcomes
    from service.cli.common import fail

    frames = []
    if outcomes is not None:
        frames.append(load_outcomes(outcomes))
    if db is not None:
        frames.append(load_feedback_db(db))
    data = pd.concat(frames, ignore_index=True)
    if data.empty:
        fail("no outcomes to learn from", 2)
    return data
