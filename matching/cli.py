"""The ``partnermatch`` command line (Typer): demo data, suggestions, explanations, the ``make run`` demo.

Adding a command: write a function decorated with ``@app.command()``, reuse the option aliases
below (``RegistryOpt``, ``EncoderOpt``, ``DataDirOpt``, ``JsonOpt``), get a ranker with
``load_ranker(...)`` and wrap the body in ``with user_errors():`` so that a user's mistake
prints a message and an exit code, never a traceback.

Exit codes: 0 success; 1 unknown school id or a runtime failure (model, disk); 2 a bad file,
bad option value or bad configuration (Typer's usage errors are 2 as well).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import Enum, StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from features import vocab
from features.errors import EncoderError, ProfileFormatError, ProfileValidationError
from features.profiles import SchoolProfile, load_profiles, save_profiles
from matching.config import COMPONENTS, RankerConfig
from matching.errors import ConfigError, MatchingError, UnknownSchoolError

if TYPE_CHECKING:  # the index stack (scikit-learn, sentence-transformers) is imported only when a command needs it
    from matching.explain import PairExplanation, Reasons
    from matching.ranker import Ranker, Ranking

DEFAULT_REGISTRY = "demo_registry.csv"
DEFAULT_DEMO_SCHOOLS = 2000
DEFAULT_SEED = 0

app = typer.Typer(
    name="partnermatch",
    help="Suggest partner schools: UK schools with schools abroad, ranked and explained.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class EncoderKind(StrEnum):
    """Text encoder for the themes block."""

    real = "real"
    hashing = "hashing"


class DiversityKind(StrEnum):
    """How the top k is kept from coming all from one country."""

    none = "none"
    country_cap = "country_cap"
    mmr = "mmr"


PhaseKind = Enum("PhaseKind", {p: p for p in vocab.PHASES}, type=str)  # type: ignore[misc]


def _check_countries(values: list[str] | None) -> list[str]:
    out = []
    for value in values or []:
        code = value.strip().upper()
        code = vocab.UK if code == "UK" else code
        if not vocab.is_country(code):
            near = vocab.nearest_countries(value)
            hint = f"; nearest: {', '.join(near)}" if near else ""
            raise typer.BadParameter(f"{value!r} is not an ISO 3166-1 alpha-2 country code (e.g. IQ, KE, GB){hint}")
        out.append(code)
    return out


def _check_output_suffix(path: Path | None) -> Path | None:
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
    typer.Option("--encoder", "-e", help="Text encoder: the real model, or the fast hashing stand-in."),
]
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
    """A rich console; wide when output is not a terminal (pipes, files, tests) so tables stay readable."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else max(shutil.get_terminal_size((160, 24)).columns, 160)
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
        fail(f"the text encoder could not be loaded: {exc}", 1)
    except MatchingError as exc:
        fail(str(exc), 1)
    except OSError as exc:
        fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), 1)


def resolve_data_dir(data_dir: Path | None) -> Path:
    """The data directory (created if needed)."""
    from matching.engine import data_dir as engine_data_dir

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
) -> Ranker:
    """Load (or build) the registry and index it with the chosen encoder (embeddings cached in the data dir)."""
    from matching.engine import build_ranker, make_encoder

    path = ensure_registry(registry, data_dir, progress)
    profiles = load_profiles(path)
    ranker_config = RankerConfig.load(config) if config else None
    kind = encoder.value if isinstance(encoder, EncoderKind) else str(encoder)
    return build_ranker(profiles, make_encoder(kind, resolve_data_dir(data_dir)), ranker_config, progress=progress)


def _short(component: str) -> str:
    return {"timezone_overlap": "tz", "complementarity": "compl", "readiness": "ready"}.get(component, component)


def compact_reasons(reasons: Reasons) -> str:
    """Reasons in a few short lines for a table cell."""
    lines = []
    if reasons.shared_themes:
        lines.append("Themes: " + ", ".join(vocab.theme_label(t) for t in reasons.shared_themes))
    if reasons.you_want_they_offer:
        lines.append("They offer what you want: " + ", ".join(_skill(s) for s in reasons.you_want_they_offer))
    if reasons.they_want_you_offer:
        lines.append("You offer what they want: " + ", ".join(_skill(s) for s in reasons.they_want_you_offer))
    if reasons.shared_languages:
        lines.append("Languages: " + ", ".join(vocab.language_name(c) for c in reasons.shared_languages))
    lines.append(
        f"School days overlap {reasons.overlap_hours:g} h" if reasons.overlap_hours > 0 else "No school-day overlap"
    )
    return "\n".join(lines)


def _skill(skill: str) -> str:
    return skill.replace("_", " ")


def _school_line(p: SchoolProfile) -> str:
    where = ", ".join(x for x in (p.city, vocab.country_name(p.country)) if x)
    return f"{p.school_id} {p.name} ({where}; {p.phase.replace('_', ' ')} {p.age_min}-{p.age_max})"


def suggestion_records(ranker: Ranker, ranking: Ranking) -> list[dict[str, object]]:
    """JSON-ready suggestions with the candidate's public details (never its contact)."""
    out = []
    for rank, record in enumerate(ranking.to_records(), start=1):
        p = ranker.index.profile(str(record["school_id"]))
        out.append(
            {
                "rank": rank,
                "school_id": p.school_id,
                "name": p.name,
                "country": p.country,
                "city": p.city,
                "phase": p.phase,
                "ages": [p.age_min, p.age_max],
                "languages": list(p.languages),
                "score": round(float(record["score"]), 4),
                "contributions": {c: round(v, 4) for c, v in record["contributions"].items()},  # type: ignore[union-attr]
                "reasons": record["reasons"],
            }
        )
    return out


def ranking_table(ranker: Ranker, ranking: Ranking, title: str | None = None) -> Table:
    """Suggestions as a rich table: rank, school, country, score, each component's contribution, reasons."""
    table = Table(title=title, show_lines=True, title_justify="left")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("school_id", no_wrap=True)
    table.add_column("name", ratio=2, min_width=16)
    table.add_column("country", no_wrap=True)
    table.add_column("phase", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    for c in ranking.components:
        table.add_column(_short(c), justify="right", no_wrap=True)
    table.add_column("reasons", ratio=3, min_width=30)
    for rank, (sid, score, parts, reasons) in enumerate(
        zip(ranking.ids, ranking.scores, ranking.contributions, ranking.reasons, strict=True), start=1
    ):
        p = ranker.index.profile(str(sid))
        table.add_row(
            str(rank),
            p.school_id,
            p.name,
            f"{p.country} {p.city or ''}".strip(),
            f"{p.phase} {p.age_min}-{p.age_max}",
            f"{score:.3f}",
            *(f"{v:.3f}" for v in parts),
            compact_reasons(reasons),
        )
    return table


def print_ranking(ranker: Ranker, ranking: Ranking, out: Console | None = None) -> None:
    """The asking school, then its suggestions as a table (or a line saying none passed the constraints)."""
    out = out or console()
    school = ranker.index.profile(ranking.query_id)
    out.print(f"Suggestions for {_school_line(school)}", markup=False)
    out.print(f"{ranking.n_allowed:,} of {len(ranker.index) - 1:,} schools pass every hard constraint.", markup=False)
    if not len(ranking):
        out.print("No school passes the hard constraints and filters: try `partnermatch explain A B`.", markup=False)
        return
    out.print(ranking_table(ranker, ranking))


def explanation_dict(ranker: Ranker, explanation: PairExplanation) -> dict[str, object]:
    """A pair explanation with both schools' public names."""
    data = explanation.as_dict()
    for side in ("a", "b"):
        p = ranker.index.profile(explanation.a if side == "a" else explanation.b)
        data[f"{side}_name"] = p.name
        data[f"{side}_country"] = p.country
    return data


def print_explanation(ranker: Ranker, explanation: PairExplanation, out: Console | None = None) -> None:
    """Blocking constraints (if any), the score parts and the reasons for a pair."""
    out = out or console()
    a, b = ranker.index.profile(explanation.a), ranker.index.profile(explanation.b)
    out.print(f"A: {_school_line(a)}", markup=False)
    out.print(f"B: {_school_line(b)}", markup=False)
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


@app.command("demo-data")
def demo_data(
    schools: Annotated[
        int, typer.Option("--schools", "-n", min=1, max=2_000_000, help="How many schools to generate.")
    ] = DEFAULT_DEMO_SCHOOLS,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            dir_okay=False,
            callback=_check_output_suffix,
            help="Output file (.csv or .json). Default: <data dir>/demo_registry.csv.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed: the same seed gives the same registry.")] = 0,
    uk_share: Annotated[float, typer.Option("--uk-share", min=0.0, max=1.0, help="Share of UK schools.")] = 0.35,
    data_dir: DataDirOpt = None,
) -> None:
    """Write a realistic demo registry: real English schools and schools in ~50 countries abroad."""
    from matching.demo import generate_registry

    with user_errors():
        path = out if out is not None else resolve_data_dir(data_dir) / DEFAULT_REGISTRY
        start = time.perf_counter()
        profiles = generate_registry(schools, uk_share=uk_share, seed=seed, progress=True)
        save_profiles(profiles, path)
        seconds = time.perf_counter() - start
        n_uk = sum(p.is_uk for p in profiles)
        countries = {p.country for p in profiles if not p.is_uk}
        descriptions = {p.description for p in profiles}
        out_console = console()
        out_console.print(
            f"Wrote {len(profiles):,} schools to {path} in {seconds:.1f} s (seed {seed}): "
            f"{n_uk:,} in the UK ({n_uk / len(profiles):.0%}, from the English register), "
            f"{len(profiles) - n_uk:,} abroad in {len(countries)} countries; "
            f"{len(descriptions):,} distinct descriptions.",
            markup=False,
        )
        if n_uk < round(schools * uk_share):
            out_console.print(
                f"Note: the register has {n_uk:,} open UK schools, fewer than the {uk_share:.0%} asked for; "
                "the rest are schools abroad.",
                markup=False,
            )


@app.command()
def suggest(
    school_id: Annotated[str, typer.Argument(help="The school to suggest partners for.")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=1000, help="How many suggestions.")] = 10,
    registry: RegistryOpt = None,
    country: Annotated[
        list[str] | None,
        typer.Option("--country", "-c", callback=_check_countries, help="Only these countries (repeatable)."),
    ] = None,
    phase: Annotated[
        list[PhaseKind] | None, typer.Option("--phase", "-p", help="Only these phases (repeatable).")
    ] = None,
    max_tz_diff: Annotated[
        float | None, typer.Option("--max-tz-diff", min=0.0, max=12.0, help="Maximum time-zone difference (hours).")
    ] = None,
    diversity: Annotated[
        DiversityKind | None, typer.Option("--diversity", "-d", help="Diversity method (default: from config).")
    ] = None,
    encoder: EncoderOpt = EncoderKind.real,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ranked, explained partner suggestions for SCHOOL_ID."""
    from matching.constraints import RequestFilters

    with user_errors():
        ranker = load_ranker(registry, encoder, data_dir, config, progress=not as_json)
        filters = RequestFilters(
            countries=tuple(country or ()),
            phases=tuple(p.value for p in phase or ()),
            max_timezone_difference=max_tz_diff,
        )
        ranking = ranker.suggest(school_id, k=k, filters=filters, diversity=diversity.value if diversity else None)
        if as_json:
            school = ranker.index.profile(school_id)
            payload = {
                "school_id": school.school_id,
                "name": school.name,
                "country": school.country,
                "k": k,
                "n_allowed": ranking.n_allowed,
                "suggestions": suggestion_records(ranker, ranking),
            }
            typer.echo(json.dumps(payload, indent=1, ensure_ascii=False))
        else:
            print_ranking(ranker, ranking)


@app.command()
def explain(
    school_a: Annotated[str, typer.Argument(metavar="A", help="The asking school.")],
    school_b: Annotated[str, typer.Argument(metavar="B", help="The candidate partner.")],
    registry: RegistryOpt = None,
    encoder: EncoderOpt = EncoderKind.real,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Why B is (or is not) suggested to A: blocking constraints, score parts, reasons."""
    with user_errors():
        ranker = load_ranker(registry, encoder, data_dir, config, progress=not as_json)
        explanation = ranker.explain(school_a, school_b)
        if as_json:
            typer.echo(json.dumps(explanation_dict(ranker, explanation), indent=1, ensure_ascii=False))
        else:
            print_explanation(ranker, explanation)


def run_demo(
    registry: Path | None = None,
    encoder: EncoderKind | str = EncoderKind.real,
    data_dir: Path | None = None,
    k: int = 5,
    school_id: str | None = None,
) -> None:
    """The console demo: build the demo registry if missing, index it, and show explained suggestions."""
    from matching.demo import demo_school

    out = console()
    start = time.perf_counter()
    ranker = load_ranker(registry, encoder, data_dir)
    out.print(f"Indexed {len(ranker.index):,} schools in {time.perf_counter() - start:.1f} s.", markup=False)
    present = ranker.index.present_profiles()
    school = ranker.index.profile(school_id) if school_id else demo_school(present)
    out.print(f"\nDemo school: {_school_line(school)}", markup=False)
    out.print(f"  themes: {', '.join(vocab.theme_label(t) for t in school.themes)}", markup=False)
    out.print(f'  "{school.description}"\n', markup=False)
    ranking = ranker.suggest(school.school_id, k=k)
    print_ranking(ranker, ranking, out)
    if len(ranking):
        out.print(f"\nWhy {ranking.ids[0]} comes first:", markup=False)
        print_explanation(ranker, ranker.explain(school.school_id, str(ranking.ids[0])), out)
    same_side = next((p for p in present if p.is_uk == school.is_uk and p.school_id != school.school_id), None)
    if same_side is not None:
        out.print(f"\nWhy not {same_side.school_id}?", markup=False)
        print_explanation(ranker, ranker.explain(school.school_id, same_side.school_id), out)
    out.print(
        "\nTry: partnermatch suggest SCHOOL_ID -k 10 --country KE --diversity mmr; partnermatch explain A B",
        markup=False,
    )


@app.command()
def demo(
    registry: RegistryOpt = None,
    school_id: Annotated[str | None, typer.Option("--school", "-s", help="Demo school (default: a UK school).")] = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=100, help="How many suggestions.")] = 5,
    encoder: EncoderOpt = EncoderKind.real,
    data_dir: DataDirOpt = None,
) -> None:
    """Console demo: ranked, explained suggestions for a demo UK school (builds the demo registry if missing)."""
    with user_errors():
        run_demo(registry, encoder, data_dir, k, school_id)


@app.command()
def run(
    encoder: EncoderOpt = EncoderKind.real,
    data_dir: DataDirOpt = None,
) -> None:
    """The `make run` entry point: the console demo on the default demo registry with the real model."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    with user_errors():
        run_demo(None, encoder, data_dir)


from matching import evaluation_cli  # noqa: E402  (its commands use the helpers above)

app.command("evaluate")(evaluation_cli.evaluate_cmd)
app.command("learn-weights")(evaluation_cli.learn_weights_cmd)
app.command("synthetic-history")(evaluation_cli.synthetic_history_cmd)

from matching import batch_cli  # noqa: E402

app.command("batch")(batch_cli.batch_cmd)

from service import cli as service_cli  # noqa: E402  (uvicorn and the app are imported when it runs)

app.command("serve")(service_cli.serve)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI (``python -m matching.cli``)."""
    app(args=list(argv) if argv is not None else None, prog_name="partnermatch")


if __name__ == "__main__":
    main()
