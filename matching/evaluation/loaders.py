"""Reading the evaluation's input files: known partnerships, pairwise judgements and outcomes.

Each loader takes a CSV path or a DataFrame, checks the columns and values, and raises
``EvaluationInputError`` naming the file, the line and the field; ids are checked against a
``SchoolIndex`` when one is given (``unknown='skip'`` drops rows with ids not in it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from matching.core.index import SchoolIndex
from matching.errors import MatchingError

PARTNERSHIP_COLUMNS: tuple[str, ...] = ("school_a", "school_b", "source", "date")
JUDGEMENT_COLUMNS: tuple[str, ...] = ("school", "candidate_a", "candidate_b", "better")
OUTCOME_COLUMNS: tuple[str, ...] = ("school_id", "candidate_id", "outcome")
OUTCOMES: tuple[str, ...] = ("accepted", "declined", "partnership", "expired")  # expired: a request left unanswered


class EvaluationInputError(MatchingError, ValueError):
    """A partnerships, judgements or outcomes file is malformed; the message names rows and fields."""


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


def load_outcomes(
    source: str | Path | pd.DataFrame, index: object = None, unknown: Literal["error", "skip"] = "error"
) -> pd.DataFrame:
    """Outcomes from a CSV ``school_id,candidate_id,outcome`` (``accepted``, ``declined``, ``partnership`` or
    ``expired``)
    or a DataFrame; ids are checked against ``index`` (a ``SchoolIndex``) when given."""
    frame, name = _read_table(source, "outcomes")
    _require_columns(frame, OUTCOME_COLUMNS, OUTCOME_COLUMNS, name)
    frame["outcome"] = frame["outcome"].astype(str).str.strip().str.lower()
    bad = np.flatnonzero(~frame["outcome"].isin(OUTCOMES).to_numpy())
    if len(bad):
        shown = "; ".join(f"line {i + 2}: outcome {frame['outcome'].iloc[i]!r}" for i in bad[:10])
        raise EvaluationInputError(f"{name}: {shown}: outcome must be one of {', '.join(OUTCOMES)}")
    frame = _check_ids(frame, OUTCOME_COLUMNS[:2], index, unknown, name)  # type: ignore[arg-type]
    same = np.flatnonzero((frame["school_id"] == frame["candidate_id"]).to_numpy())
    if len(same):
        raise EvaluationInputError(
            f"{name}: line(s) {', '.join(str(i + 2) for i in same[:10])}: school is its own candidate"
        )
    return frame[list(OUTCOME_COLUMNS)].reset_index(drop=True)


def _engine(url: str | Path):  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine

    text = str(url)
    if "://" not in text:
        if not Path(text).is_file():
            raise EvaluationInputError(f"{text}: no such database file")
        text = f"sqlite:///{Path(text).resolve()}"
    return create_engine(text)


def load_requests_db(url: str | Path) -> pd.DataFrame:
    """Outcomes of the API's partnership requests alone (``request_outcomes`` of its ``partnership_requests``
    table; empty when the database has none). ``load_feedback_db`` already includes them."""
    from sqlalchemy import column, inspect, select, table

    engine = _engine(url)
    try:
        if "partnership_requests" not in set(inspect(engine).get_table_names()):
            return pd.DataFrame(columns=list(OUTCOME_COLUMNS))
        pr = table("partnership_requests", column("from_school"), column("to_school"), column("state"))
        with engine.connect() as conn:
            rows = conn.execute(select(pr.c.from_school, pr.c.to_school, pr.c.state)).all()
    finally:
        engine.dispose()
    return load_outcomes(pd.DataFrame(request_outcomes(rows), columns=list(OUTCOME_COLUMNS)))


def load_feedback_db(url: str | Path, include_partnerships: bool = True) -> pd.DataFrame:
    """Outcomes stored by the API: its ``feedback`` table (``decision`` accept/decline), its
    ``partnership_requests`` (``request_outcomes``: nothing extra to load) and, with ``include_partnerships``,
    its ``partnerships`` table, read by name (no import of ``service``, no reflection).

    ``url`` is an SQLAlchemy URL or a path to an SQLite file.
    """
    from sqlalchemy import column, inspect, select, table

    engine = _engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        if "feedback" not in tables:
            raise EvaluationInputError(
                f"{url}: the database has no feedback table (tables: {', '.join(sorted(tables))})"
            )
        fb = table("feedback", column("school_id"), column("candidate_id"), column("decision"))
        with engine.connect() as conn:
            rows = conn.execute(select(fb.c.school_id, fb.c.candidate_id, fb.c.decision)).all()
            parts = []
            if include_partnerships and "partnerships" in tables:
                pt = table("partnerships", column("school_a"), column("school_b"))
                parts = conn.execute(select(pt.c.school_a, pt.c.school_b)).all()
            answered = []
            if "partnership_requests" in tables:  # issue 15: introductions' answers
                pr = table("partnership_requests", column("from_school"), column("to_school"), column("state"))
                answered = conn.execute(select(pr.c.from_school, pr.c.to_school, pr.c.state)).all()
    finally:
        engine.dispose()
    decision = {"accept": "accepted", "accepted": "accepted", "decline": "declined", "declined": "declined"}
    records = [(a, b, decision.get(str(d).lower(), str(d))) for a, b, d in rows]
    records += [(a, b, "partnership") for a, b in parts]
    records += request_outcomes(answered)
    return load_outcomes(pd.DataFrame(records, columns=list(OUTCOME_COLUMNS)))


def request_outcomes(rows: Sequence[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Outcomes of partnership requests ``(from_school, to_school, state)``, from the deciding school's side:
    receiver -> sender ``accepted``, ``declined`` or ``expired`` (left unanswered); and sending one says the
    sender wanted the receiver (sender -> receiver ``accepted``). Open and withdrawn ones say nothing about
    the receiver."""
    out: list[tuple[str, str, str]] = []
    answer = {"accepted": "accepted", "declined": "declined", "expired": "expired"}
    for a, b, state in rows:
        out.append((a, b, "accepted"))
        if state in answer:
            out.append((b, a, answer[state]))
    return out
