"""School profiles in files and tables: CSV (one column per field, lists joined by ';'), JSON or JSON lines,
and pandas DataFrames in the CSV format; every row validated as ``profiles.profiles_from_records`` does."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from features.errors import ProfileFormatError
from features.profiles import (
    CSV_COLUMNS,
    PRIVATE_FIELDS,
    REQUIRED_COLUMNS,
    SchoolProfile,
    profiles_from_records,
)


def profiles_from_frame(frame: pd.DataFrame, source: str | None = None) -> list[SchoolProfile]:
    """Validate a DataFrame in the CSV format (one column per field; lists joined by ';')."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ProfileFormatError(
            f"{source or 'table'}: missing required column(s) {', '.join(missing)}; "
            f"columns are: {', '.join(CSV_COLUMNS)}"
        )
    records = frame.to_dict(orient="records")
    return profiles_from_records(records, source=source)


def load_profiles(source: str | Path | pd.DataFrame) -> list[SchoolProfile]:
    """Load and validate profiles from a CSV or JSON file (list of objects, or JSON lines) or a DataFrame."""
    if isinstance(source, pd.DataFrame):
        return profiles_from_frame(source)
    path = Path(source)
    if not path.is_file():
        raise ProfileFormatError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise ProfileFormatError(f"{path}: not a readable CSV file ({exc})") from None
        return profiles_from_frame(frame, source=str(path))
    if suffix in (".json", ".jsonl", ".ndjson"):
        text = path.read_text("utf-8")
        try:
            if suffix == ".json":
                data = json.loads(text)
                if isinstance(data, Mapping) and "schools" in data:
                    data = data["schools"]
            else:
                data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise ProfileFormatError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, list):
            raise ProfileFormatError(f"{path}: expected a JSON list of school objects")
        return profiles_from_records(data, source=str(path))
    raise ProfileFormatError(f"{path}: unknown file type {suffix!r}; use .csv, .json or .jsonl")


def profiles_to_frame(
    profiles: Iterable[SchoolProfile], include_private: bool = True, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Profiles as a DataFrame in the CSV format (the inverse of ``profiles_from_frame``); ``columns``: only
    these of its columns (each as in the whole table)."""
    rows = [p.to_record(include_private=include_private) for p in profiles]
    table = [c for c in CSV_COLUMNS if include_private or c not in PRIVATE_FIELDS]
    if columns is not None:
        unknown = [c for c in columns if c not in table]
        if unknown:
            raise ValueError(f"columns: {unknown} are not columns of the profile table; they are {table}")
        table = list(columns)
    return pd.DataFrame(rows, columns=table)


def save_profiles(profiles: Iterable[SchoolProfile], path: str | Path) -> Path:
    """Write profiles as CSV or JSON (by suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps([p.model_dump(mode="json") for p in profiles], indent=1), "utf-8")
    else:
        profiles_to_frame(profiles).to_csv(path, index=False)
    return path
