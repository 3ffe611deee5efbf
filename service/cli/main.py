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
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from features import vocab
from features.profile_files import save_profiles
from service.cli import batch, evaluation, keys, refit, serve
from service.cli.common import (
    DEFAULT_DEMO_SCHOOLS,
    DEFAULT_REGISTRY,
    ConfigOpt,
    DataDirOpt,
    DiversityKind,
    EncoderKind,
    EncoderOpt,
    JsonOpt,
    PhaseKind,
    RegistryOpt,
    check_countries,
    check_output_suffix,
    console,
    explanation_dict,
    load_ranker,
    print_explanation,
    print_ranking,
    resolve_data_dir,
    school_line,
    suggestion_records,
    user_errors,
)

app = typer.Typer(
    name="partnermatch",
    help="Suggest partner schools: UK schools with schools abroad, ranked and explained.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


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
            callback=check_output_suffix,
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
        typer.Option("--country", "-c", callback=check_countries, help="Only these countries (repeatable)."),
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
    from matching.core.filters import parse_filters

    with user_errors():
        ranker = load_ranker(registry, encoder, data_dir, config, progress=not as_json)
        filters = parse_filters(country, [p.value for p in phase or ()], max_tz_diff)
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
    out.print(f"\nDemo school: {school_line(school)}", markup=False)
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
    """What `make run` does: serve the page and the API on the demo registry (real model), printing a "ready"
    line with a demo school's page once the server answers. `partnermatch demo` is the console demo."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    kind = encoder.value if isinstance(encoder, EncoderKind) else str(encoder)
    serve.serve(data_dir=data_dir, encoder=kind, demo=True)


app.command("evaluate")(evaluation.evaluate_cmd)
app.command("learn-weights")(evaluation.learn_weights_cmd)
app.command("synthetic-history")(evaluation.synthetic_history_cmd)
app.command("refit")(refit.refit_cmd)
app.command("refit-rollback")(refit.rollback_cmd)


app.command("batch")(batch.batch_cmd)
app.add_typer(keys.app, name="keys")


app.command("serve")(serve.serve)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI (``python -m service.cli.main``)."""
    app(args=list(argv) if argv is not None else None, prog_name="partnermatch")


if __name__ == "__main__":
    main()
