"""Shared pieces of the ``partnermatch`` command line: option aliases, error handling, loading and tables."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum, StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from features import vocab
from features.errors import EncoderError, ProfileFormatError, ProfileValidationError
from features.profile_files import load_profiles
from features.profiles import SchoolProfile
from matching.core.config import COMPONENTS, RankerConfig
from matching.core.filters import FilterError, parse_filters
from matching.errors import ConfigError, MatchingError, UnknownSchoolError

if TYPE_CHECKING:  # the index stack (scikit-learn, sentence-transformers) is imported only when a command needs it
    from features.text import TextEncoder
    from matching.core.explain import PairExplanation
    from matching.core.ranker import Ranker, Ranking

DEFAULT_REGISTRY = "demo_registry.csv"
DEFAULT_DEMO_SCHOOLS = 2000
DEFAULT_SEED = 0


class EncoderKind(StrEnum):
    """Text encoder for the themes block."""

    real = "real"
    multilingual = "multilingual"
    hashing = "hashing"


class DiversityKind(StrEnum):
    """How the top k is kept from coming all from one country."""

    none = "none"
    country_cap = "country_cap"
    mmr = "mmr"


PhaseKind = Enum("PhaseKind", {p: p for p in vocab.PHASES}, type=str)  # type: ignore[misc]


def check_countries(values: list[str] | None) -> list[str]:
    """Country codes (``parse_filters``: any case, repeated or comma-separated, UK for GB), with the nearest
    names as a hint on a typo."""
    try:
        return list(parse_filters(countries=values or []).countries)
    except FilterError as exc:
        near = vocab.nearest_countries(str(exc.value))
        hint = f"; nearest: {', '.join(near)}" if near else ""
        raise typer.BadParameter(f"{exc.value!r} is not a country code; use {exc.allowed}{hint}") from None


def check_output_suffix(path: Path | None) -> Path | None:
    if path is not None and path.suffix.lower() not in (".csv", ".json"):
        raise typer.BadParameter(f"{path}: the file name must end in .csv or .json")
    return path


# Option aliases shared by commands (reuse them in new commands).
RegistryOpt = Annotated[
    Path | None,
    typer.Option(
        "--registry",
        "-r",
        help="Registry file (.csv/.json). Default: <data dir>/demo_registry.csv, built if missing.",
        dir_okay=False,
    ),
]
EncoderOpt = Annotated[
    EncoderKind,
    typer.Option(
        "--encoder",
        "-e",
        help="Text encoder: real (all-MiniLM-L6-v2, English), multilingual (USE multilingual v3, 16 languages), "
        "or the fast hashing stand-in.",
    ),
]
ReencodeOpt = Annotated[
    bool,
    typer.Option(
        "--reencode",
        help="The embedding cache holds another model's vectors: drop them and encode again "
        "(default: $PARTNERMATCH_REENCODE, else refuse).",
    ),
]
REENCODE_ENV = "PARTNERMATCH_REENCODE"
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Where registries and caches live (default: $PARTNERMATCH_DATA_DIR, else ./var).",
        file_okay=False,
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Ranker configuration (JSON) for weights, constraints and diversity.", dir_okay=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


# ---------------------------------------------------------------- shared helpers


def console(stderr: bool = False) -> Console:
    """A rich console: a terminal's own width; elsewhere (pipes, files, tests) ``$COLUMNS`` when set, else 160."""
    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not stream.isatty():
        columns = os.environ.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() and int(columns) > 0 else 160
    return Console(file=stream, width=width, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print an error for a shell user and exit with ``code``."""
    console(stderr=True).print(f"Error: {message}", markup=False)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the project's errors into a message and an exit code (no traceback)."""
    try:
        yield
    except UnknownSchoolError as exc:
        fail(str(exc), 1)
    except (ProfileValidationError, ProfileFormatError) as exc:
        fail(str(exc), 2)
    except ConfigError as exc:
        fail(str(exc), 2)
    except EncoderError as exc:
        from features.text import EncoderMismatchError  # features.text is imported only when a command needs it

        fail(str(exc) if isinstance(exc, EncoderMismatchError) else f"the text encoder could not be loaded: {exc}", 1)
    except MatchingError as exc:
        fail(str(exc), 1)
    except OSError as exc:
        fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), 1)


def resolve_data_dir(data_dir: Path | None) -> Path:
    """The data directory (created if needed)."""
    from matching.core.engine import data_dir as engine_data_dir

    return engine_data_dir(data_dir)


def ensure_registry(registry: Path | None, data_dir: Path | None, progress: bool = True) -> Path:
    """The registry path to use: ``registry``, else the default demo registry (written if missing)."""
    if registry is not None:
        return registry
    path = resolve_data_dir(data_dir) / DEFAULT_REGISTRY
    if not path.is_file():
        from matching.demo import write_registry

        console(stderr=True).print(
            f"No registry at {path}: writing a demo registry of {DEFAULT_DEMO_SCHOOLS:,} schools "
            f"(seed {DEFAULT_SEED})...",
            markup=False,
        )
        write_registry(path, DEFAULT_DEMO_SCHOOLS, seed=DEFAULT_SEED, progress=progress)
    return path


def load_ranker(
    registry: Path | None,
    encoder: EncoderKind | str = EncoderKind.real,
    data_dir: Path | None = None,
    config: Path | None = None,
    progress: bool = True,
    reencode: bool = False,
) -> Ranker:
    """Load (or build) the registry and index it with the chosen encoder (embeddings cached in the data dir)."""
    from matching.core.engine import build_ranker

    path = ensure_registry(registry, data_dir, progress)
    profiles = load_profiles(path)
    ranker_config = RankerConfig.load(config) if config else None
    text_encoder = load_encoder(encoder, data_dir, progress, reencode)
    if str(getattr(encoder, "value", encoder)) != EncoderKind.hashing.value:
        from features.langid import with_description_language  # where a file does not say, detect it (fast)

        profiles = with_description_language(profiles)
    return build_ranker(profiles, text_encoder, ranker_config, progress=progress)


def reencode_from_env(reencode: bool = False) -> bool:
    """``reencode``, or ``$PARTNERMATCH_REENCODE`` (1/true/yes/on) when not given; another value is a usage error."""
    if reencode:
        return True
    raw = os.environ.get(REENCODE_ENV, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise typer.BadParameter(f"{REENCODE_ENV}={raw!r}: use true or false")


def load_encoder(
    encoder: EncoderKind | str, data_dir: Path | None, progress: bool = True, reencode: bool = False
) -> TextEncoder:
    """The cached encoder for a command. While a model loads, one status line on stderr (a spinner in a terminal)
    instead of the model loader's own progress bars. The cache in the data dir must hold this model's vectors,
    unless ``reencode`` (or ``$PARTNERMATCH_REENCODE``): then they are dropped and encoded again."""
    from features.encoders import MULTILINGUAL_MODEL
    from features.text import MODEL_NAME

    kind = encoder.value if isinstance(encoder, EncoderKind) else str(encoder)
    again = reencode_from_env(reencode)
    if kind == EncoderKind.hashing.value or not progress:
        return _make_encoder(kind, data_dir, again)
    model = MODEL_NAME if kind == EncoderKind.real.value else MULTILINGUAL_MODEL
    message = f"Loading the text model ({model})…"
    err = console(stderr=True)
    if not err.is_terminal:
        err.print(message, markup=False)
        return _make_encoder(kind, data_dir, again)
    with err.status(message):
        return _make_encoder(kind, data_dir, again)


def _make_encoder(kind: str, data_dir: Path | None, reencode: bool) -> TextEncoder:
    from matching.core.engine import make_encoder

    return make_encoder(kind, resolve_data_dir(data_dir), reencode=reencode)


def _short(component: str) -> str:
    return {"timezone_overlap": "tz", "complementarity": "compl", "readiness": "ready"}.get(component, component)


def school_line(p: SchoolProfile) -> str:
    where = ", ".join(x for x in (p.city, vocab.country_name(p.country)) if x)
    return f"{p.school_id} {p.name} ({where}; {p.phase.replace('_', ' ')} {p.age_min}-{p.age_max})"


def suggestion_records(ranker: Ranker, ranking: Ranking) -> list[dict[str, object]]:
    """JSON-ready suggestions with the candidate's public details (never its contact): the presenter's
    records, flattened."""
    from service import presenter

    return [presenter.flat_record(r) for r in presenter.suggestion_records(presenter.Suggestions(ranking))]


WIDE_TABLE_MIN = 150
"""Below this many columns the suggestion table is stacked (one cell per school, one for its score parts)."""


def ranking_table(ranker: Ranker, ranking: Ranking, title: str | None = None, width: int | None = None) -> Table:
    """Suggestions as a rich table: rank, school, country, score, each component's contribution, reasons.

    Narrower than ``WIDE_TABLE_MIN`` columns (``width``), a stacked layout keeps every name and reason:
    the school's details share one cell and the score parts another, and long text wraps.
    """
    from service import presenter

    records = presenter.suggestion_records(presenter.Suggestions(ranking))
    if width is not None and width < WIDE_TABLE_MIN:
        return _stacked_ranking_table(records, ranking, title)
    table = Table(title=title, show_lines=True, title_justify="left")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("school_id", no_wrap=True)
    table.add_column("name", ratio=2, min_width=16, overflow="fold")
    table.add_column("country", no_wrap=True)
    table.add_column("phase", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    for c in ranking.components:
        table.add_column(_short(c), justify="right", no_wrap=True)
    table.add_column("reasons", ratio=3, min_width=30, overflow="fold")
    for record, reasons in zip(records, ranking.reasons, strict=True):
        school = record["school"]
        table.add_row(
            str(record["rank"]),
            Text(school["school_id"]),
            Text(school["name"]),
            Text(f"{school['country']} {school['city'] or ''}".strip()),
            f"{school['phase']} {school['age_min']}-{school['age_max']}",
            f"{record['score']:.3f}",
            *(f"{v:.3f}" for v in record["contributions"].values()),
            Text(presenter.compact_reasons(reasons)),
        )
    return table


def _stacked_ranking_table(records: list[dict[str, Any]], ranking: Ranking, title: str | None) -> Table:
    """The narrow layout: #, school (name, id, place, phase), score (with its parts), reasons."""
    from service import presenter

    table = Table(title=title, show_lines=True, title_justify="left")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("school", ratio=2, min_width=14, overflow="fold")
    table.add_column("score", no_wrap=True)
    table.add_column("reasons", ratio=3, min_width=16, overflow="fold")
    label = max((len(_short(c)) for c in ranking.components), default=0)
    for record, reasons in zip(records, ranking.reasons, strict=True):
        school = record["school"]
        place = ", ".join(x for x in (school["city"], school["country_name"]) if x)
        details = Text(school["name"], style="bold")
        ages = f"{school['age_min']}-{school['age_max']}"
        details.append(f"\n{school['school_id']} · {place}\n{presenter.phase_label(school['phase'])} {ages}")
        parts = "\n".join(f"{_short(c):<{label}} {v:.3f}" for c, v in record["contributions"].items())
        table.add_row(
            str(record["rank"]),
            details,
            f"{record['score']:.3f}\n{parts}",
            Text(presenter.compact_reasons(reasons)),
        )
    return table


def print_ranking(ranker: Ranker, ranking: Ranking, out: Console | None = None) -> None:
    """The asking school, then its suggestions as a table (or a line saying none passed the constraints)."""
    out = out or console()
    school = ranker.index.profile(ranking.query_id)
    out.print(f"Suggestions for {school_line(school)}", markup=False)
    out.print(f"{ranking.n_allowed:,} of {len(ranker.index) - 1:,} schools pass every hard constraint.", markup=False)
    if not len(ranking):
        out.print("No school passes the hard constraints and filters: try `partnermatch explain A B`.", markup=False)
        return
    out.print(ranking_table(ranker, ranking, width=out.width))


def explanation_dict(ranker: Ranker, explanation: PairExplanation) -> dict[str, object]:
    """A pair explanation with both schools' public names."""
    from service import presenter

    a, b = ranker.index.profile(explanation.a), ranker.index.profile(explanation.b)
    return presenter.explanation_names(explanation, a, b)


def print_explanation(ranker: Ranker, explanation: PairExplanation, out: Console | None = None) -> None:
    """Blocking constraints (if any), the score parts and the reasons for a pair."""
    out = out or console()
    a, b = ranker.index.profile(explanation.a), ranker.index.profile(explanation.b)
    out.print(f"A: {school_line(a)}", markup=False)
    out.print(f"B: {school_line(b)}", markup=False)
    if explanation.allowed:
        out.print(f"B can be suggested to A: score {explanation.score:.3f}", markup=False)
    else:
        out.print("B is not suggested to A; blocked by:", markup=False)
        for rule, message in explanation.blocked_by:
            out.print(f"  - {rule}: {message}", markup=False)
        out.print(f"(score if it were allowed: {explanation.score:.3f})", markup=False)
    weights = ranker.config.weights.as_dict()
    table = Table(title="Score parts", title_justify="left")
    table.add_column("component")
    table.add_column("weight", justify="right")
    table.add_column("contribution", justify="right")
    for c in COMPONENTS:
        table.add_row(c, f"{weights[c]:.2f}", f"{explanation.contributions[c]:+.3f}")
    table.add_row("total", "", f"{explanation.score:+.3f}")
    out.print(table)
    out.print("Reasons:", markup=False)
    for sentence in explanation.reasons.sentences():
        out.print(f"  - {sentence}", markup=False)


# ---------------------------------------------------------------- commands
