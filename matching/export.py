"""Tables as files people open in spreadsheets: CSV and Excel with formula cells neutralised.

The one home of the spreadsheet formula-injection rule (OWASP "CSV injection"): a text cell starting
with ``= + - @``, a tab or a carriage return gets a leading single quote, so a spreadsheet shows it as
text instead of running it. Numbers and booleans are left alone (a negative number stays a number).
Registry files that are read back (``features.profile_files.save_profiles``) are data, not exports, and do
not go through here.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from matching.errors import ConfigError

__all__ = [
    "CRLF",
    "FORMULA_START",
    "csv_text",
    "excel_bytes",
    "neutralise_cell",
    "neutralised",
    "write_csv",
    "write_excel",
]

FORMULA_START: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
"""What a text cell may not start with unquoted."""
CRLF = "\r\n"

Table = pd.DataFrame | Sequence[Mapping[str, Any]]


def neutralise_cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, with a leading single quote; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def neutralised(table: Table) -> pd.DataFrame:
    """A copy of a table (a frame or records) with every text cell neutralised (``neutralise_cell``).

    Column names are neutralised too (a header row is a row of cells).
    """
    frame = table if isinstance(table, pd.DataFrame) else pd.DataFrame(list(table))
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_object_dtype(out[column]) or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(neutralise_cell)
    out.columns = [neutralise_cell(str(c)) for c in out.columns]
    return out


def csv_text(table: Table) -> str:
    """A table as CSV text, every text cell neutralised; lines end in CRLF (RFC 4180)."""
    return neutralised(table).to_csv(index=False, lineterminator=CRLF)


def write_csv(path: str | Path, table: Table) -> Path:
    """A table to a CSV file (its folder created), every text cell neutralised; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    neutralised(table).to_csv(path, index=False, lineterminator=CRLF)
    return path


def write_excel(path: str | Path, sheets: Mapping[str, Table]) -> Path:
    """Tables to an Excel workbook file (``.xlsx``; ``excel_bytes``), its folder created; returns the path."""
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise ConfigError(f"path: {str(path)!r} must end in .xlsx")
    data = excel_bytes(sheets)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def excel_bytes(sheets: Mapping[str, Table]) -> bytes:
    """Tables as an Excel workbook (``.xlsx`` bytes), one sheet each in the given order; cells neutralised.

    Text cells are written as text (never as formulas), with the same leading quote as in CSV so the two
    exports read alike. Headers are frozen and columns sized to their content (at most 60 characters).
    """
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    if not sheets:
        raise ConfigError("sheets: give at least one table")
    book = Workbook()
    book.remove(book.active)
    for title, table in sheets.items():
        frame = neutralised(table)
        sheet = book.create_sheet(title=title[:31])
        sheet.append(list(frame.columns))
        for i, row in enumerate(frame.itertuples(index=False), start=2):
            for j, value in enumerate(row, start=1):
                cell = sheet.cell(row=i, column=j, value=_plain(value))
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # text, never a formula
        for j, column in enumerate(frame.columns, start=1):
            width = max([len(str(column))] + [len(str(v)) for v in frame.iloc[:, j - 1].tolist()])
            sheet.column_dimensions[get_column_letter(j)].width = min(60, width + 2)
        sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _plain(value: Any) -> Any:
    """A cell value openpyxl can write: numpy scalars as Python ones, missing values as empty cells."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, list | tuple | dict | set):
        return "; ".join(map(str, value)) if not isinstance(value, dict) else str(value)
    return value
