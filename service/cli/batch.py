"""``partnermatch batch``: match a whole cohort at once and write the partnerships as CSV or an Excel workbook.

Registered on the Typer app in ``service/cli/main.py``; the work is ``matching.batch.assign``.
The shared helpers of ``service.cli.main`` are imported inside the command (``service.cli.main`` imports
this module to register it).
"""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from features import vocab
from service.cli.common import check_countries


class ModeKind(StrEnum):
    """How the cohort is matched."""

    optimal = "optimal"
    stable = "stable"
    greedy = "greedy"


class EncoderKind(StrEnum):
    """Text encoder for the themes block."""

    real = "real"
    hashing = "hashing"


def _check_countries(values: list[str] | None) -> list[str]:
    """Countries abroad (``check_countries``; GB, also written UK, is not abroad)."""
    codes = check_countries(values)
    if vocab.UK in codes:
        raise typer.BadParameter("GB (also written UK) is not a country abroad; use codes such as IQ or KE")
    return codes


def _check_csv(path: Path | None) -> Path | None:
    if path is not None and path.suffix.lower() != ".csv":
        raise typer.BadParameter(f"{path}: the file name must end in .csv")
    return path


def _check_out(path: Path) -> Path:
    if path.suffix.lower() not in (".csv", ".xlsx"):
        raise typer.BadParameter(f"{path}: the file name must end in .csv or .xlsx (an Excel workbook)")
    return path


def _check_xlsx(path: Path | None) -> Path | None:
    if path is not None and path.suffix.lower() != ".xlsx":
        raise typer.BadParameter(f"{path}: the file name must end in .xlsx")
    return path


def _pairs(values: list[str] | None) -> list[tuple[str, str]]:
    out = []
    for value in values or []:
        parts = [p.strip() for p in value.split(",")]
        if len(parts) != 2 or not all(parts):
            raise typer.BadParameter(f"{value!r} must be two school ids separated by a comma: UK_ID,PARTNER_ID")
        out.append((parts[0], parts[1]))
    return out


def batch_cmd(
    cohort: Annotated[
        Path,
        typer.Argument(
            metavar="COHORT",
            help="Cohort file in the registry format (.csv or .json): the UK schools and the schools abroad to match.",
            dir_okay=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "--output",
            "-o",
            dir_okay=False,
            callback=_check_out,
            help="Where to write the partnerships: .csv, or .xlsx for one Excel workbook (partnerships, unmatched "
            "with reasons, summary).",
        ),
    ] = Path("partnerships.csv"),
    unmatched: Annotated[
        Path | None,
        typer.Option(
            "--unmatched",
            dir_okay=False,
            callback=_check_csv,
            help="Where to write the unmatched schools with reasons (default: <out>_unmatched.csv; with an .xlsx "
            "--out they are a sheet of the workbook).",
        ),
    ] = None,
    excel: Annotated[
        Path | None,
        typer.Option(
            "--excel",
            dir_okay=False,
            callback=_check_xlsx,
            help="Also write an Excel workbook (.xlsx): partnerships, unmatched with reasons, summary.",
        ),
    ] = None,
    mode: Annotated[
        ModeKind, typer.Option("--mode", "-m", help="optimal (exact), stable or greedy.")
    ] = ModeKind.optimal,
    capacity: Annotated[
        int | None,
        typer.Option(
            "--capacity",
            min=0,
            max=100,
            help="Partners each school can have this round (overrides the cohort's capacity column; schools with "
            "capacity 0 or inactive still get none).",
        ),
    ] = None,
    min_score: Annotated[float | None, typer.Option("--min-score", help="Drop pairs scoring below this.")] = None,
    top_k: Annotated[
        int, typer.Option("--top-k", "-k", min=1, max=10_000, help="Candidates kept per school (the sparse graph).")
    ] = 20,
    one_per_country: Annotated[
        bool, typer.Option("--one-per-country", help="At most one partner per country for a UK school.")
    ] = False,
    min_partners: Annotated[
        int, typer.Option("--min-partners", min=0, max=100, help="Every UK school must get at least this many.")
    ] = 0,
    country: Annotated[
        list[str] | None,
        typer.Option(
            "--country", "-c", callback=_check_countries, help="Only partners in these countries (repeatable)."
        ),
    ] = None,
    force: Annotated[
        list[str] | None, typer.Option("--force", help="A pair to make first: UK_ID,PARTNER_ID (repeatable).")
    ] = None,
    forbid: Annotated[
        list[str] | None, typer.Option("--forbid", help="A pair never to make: UK_ID,PARTNER_ID (repeatable).")
    ] = None,
    encoder: Annotated[
        EncoderKind, typer.Option("--encoder", "-e", help="Text encoder: the real model, or the fast hashing stand-in.")
    ] = EncoderKind.real,
    config: Annotated[
        Path | None, typer.Option("--config", help="Ranker configuration (JSON): weights, constraints.", dir_okay=False)
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Where the embedding cache lives (default: $PARTNERMATCH_DATA_DIR, else ./var).",
            file_okay=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the diagnostics as JSON instead of a summary.")
    ] = False,
) -> None:
    """Match a whole cohort at once: the best set of partnerships overall, with reasons for those left out."""
    from features.profile_files import load_profiles
    from matching.batch import AssignmentOptions, assign
    from matching.core.config import RankerConfig
    from matching.core.index import SchoolIndex
    from matching.export import write_csv
    from service.cli.common import console, load_encoder, user_errors

    with user_errors():
        start = time.perf_counter()
        options = AssignmentOptions(
            mode=mode.value,
            top_k=top_k,
            capacity=capacity,
            min_score=min_score,
            one_per_country=one_per_country,
            min_partners=min_partners,
            forced_pairs=tuple(_pairs(force)),
            forbidden_pairs=tuple(_pairs(forbid)),
            countries=tuple(country or ()),
            progress=not as_json,
        )
        ranker_config = RankerConfig.load(config) if config else RankerConfig()
        profiles = load_profiles(cohort)
        kind = encoder.value if isinstance(encoder, EncoderKind) else str(encoder)
        text_encoder = load_encoder(kind, data_dir, progress=not as_json)
        index = SchoolIndex.build(profiles, text_encoder, progress=not as_json)
        index_seconds = time.perf_counter() - start
        result = assign(index, ranker_config, None, options)
        workbook = out if out.suffix.lower() == ".xlsx" else excel
        unmatched_path = unmatched
        if out.suffix.lower() == ".csv":
            unmatched_path = unmatched or out.with_name(f"{out.stem}_unmatched.csv")
            write_csv(out, result.to_frame())  # cells neutralised against spreadsheet formulas
        if unmatched_path is not None:
            write_csv(unmatched_path, result.unmatched_frame())
        if workbook is not None:
            result.to_excel(workbook)
        if as_json:
            payload = {
                "partnerships": str(out),
                "unmatched": str(unmatched_path or workbook),
                "workbook": None if workbook is None else str(workbook),
                "index_seconds": index_seconds,
                "diagnostics": result.diagnostics.as_dict(),
            }
            typer.echo(json.dumps(payload, indent=1, default=float))
            return
        text = console()
        text.print(f"Indexed {len(profiles):,} schools from {cohort} in {index_seconds:.1f} s.", markup=False)
        for line in result.summary():
            text.print(line, markup=False)
        text.print(f"Wrote {len(result):,} partnerships to {out} and {len(result.unmatched):,} unmatched schools "
                   f"(with reasons) to {unmatched_path or workbook}.", markup=False)  # fmt: skip
        if workbook is not None and workbook != out:
            text.print(f"Wrote the Excel workbook (partnerships, unmatched, summary) to {workbook}.", markup=False)
