"""CLI commands for measuring match quality and learning weights (registered in ``service.cli.main``).

* ``partnermatch evaluate``: leave-one-out ranks of known partnerships, baselines, one table.
* ``partnermatch learn-weights``: fit the component weights from outcomes; save a versioned config.
* ``partnermatch synthetic-history``: a seeded synthetic history (partnerships and outcomes) to try both.

The shared helpers of ``service.cli.main`` are imported inside the functions (``service.cli.main`` imports
this module to register the commands).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from matching.evaluation import EvaluationInputError
from matching.export import write_csv
from service.cli import _outcomes

Registry = Annotated[
    Path | None,
    typer.Option(
        "--registry", "-r", help="Registry file (.csv/.json). Default: <data dir>/demo_registry.csv.", dir_okay=False
    ),
]
Encoder = Annotated[
    str, typer.Option("--encoder", "-e", help="Text encoder: real (all-MiniLM-L6-v2) or hashing (fast stand-in).")
]
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Registries and caches (default: $PARTNERMATCH_DATA_DIR, else ./var).", file_okay=False
    ),
]
Config = Annotated[
    Path | None, typer.Option("--config", help="Ranker configuration JSON (e.g. learned weights).", dir_okay=False)
]
Seed = Annotated[int, typer.Option("--seed", help="Seed for sampling, tie-breaks and the bootstrap.")]
SkipUnknown = Annotated[
    bool, typer.Option("--skip-unknown", help="Drop rows naming schools not in the registry (default: an error).")
]


def _check_encoder(kind: str) -> str:
    if kind not in ("real", "multilingual", "hashing"):
        raise typer.BadParameter(f"{kind!r} is not one of real, multilingual, hashing", param_hint="--encoder")
    return kind


@contextmanager
def _errors() -> Iterator[None]:
    """A bad input file exits 2 with its message; everything else as ``service.cli.main.user_errors``."""
    from service.cli.common import fail, user_errors

    with user_errors():
        try:
            yield
        except EvaluationInputError as exc:
            fail(str(exc), 2)


def _frame_tables(frame: pd.DataFrame, title: str, index_name: str = "", width: int | None = None) -> list[object]:
    """A frame as rich tables: one when it fits in ``width`` columns, else the columns split over several tables,
    each starting with the row names (so no name or column is ever squeezed out of a narrow terminal)."""
    from rich.table import Table
    from rich.text import Text

    integer = [pd.api.types.is_integer_dtype(frame[col]) for col in frame.columns]
    names = [str(name) for name in frame.index]
    cells = [[_cell(v, i) for v, i in zip(values, integer, strict=True)] for values in frame.itertuples(index=False)]
    head = index_name or str(frame.index.name or "")
    need = [max([len(str(col))] + [len(row[j]) for row in cells]) + 3 for j, col in enumerate(frame.columns)]
    room = (width or 10**6) - (max([len(head)] + [len(n) for n in names]) + 4)
    groups: list[list[int]] = [[]]
    used = 0
    for j, w in enumerate(need):
        if groups[-1] and used + w > room:
            groups.append([])
            used = 0
        groups[-1].append(j)
        used += w
    tables: list[object] = []
    for k, group in enumerate(groups):
        part = title if k == 0 else f"{title} (continued, {k + 1} of {len(groups)})"
        table = Table(title=Text(part), title_justify="left")
        table.add_column(head, overflow="fold")
        for j in group:
            table.add_column(str(frame.columns[j]), justify="right", overflow="fold")
        for name, row in zip(names, cells, strict=True):
            table.add_row(Text(name), *(row[j] for j in group))
        tables.append(table)
    return tables


def _cell(v: object, integer: bool = False) -> str:
    if integer:
        return f"{int(v):,}"  # type: ignore[call-overload]
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def evaluate_cmd(
    partnerships: Annotated[
        Path, typer.Option("--partnerships", "-p", help="Known good partnerships CSV: school_a,school_b[,source,date].")
    ],
    registry: Registry = None,
    judgements: Annotated[
        Path | None,
        typer.Option("--judgements", "-j", help="Pairwise judgements CSV: school,candidate_a,candidate_b,better."),
    ] = None,
    encoder: Encoder = "real",
    config: Config = None,
    compare: Annotated[
        list[Path] | None,
        typer.Option("--compare", help="Another configuration (weights, exposure, priorities) beside it (repeatable)."),
    ] = None,
    exposure_prior: Annotated[
        list[float] | None,
        typer.Option("--exposure-prior", min=0, max=4, help="Also rank with this popularity prior (repeatable)."),
    ] = None,
    principles: Annotated[
        bool, typer.Option(help="Pairwise principle checks (skills each way, ages, time zones, readiness, themes).")
    ] = True,
    baselines: Annotated[bool, typer.Option(help="Also run random, TF-IDF and each component alone.")] = True,
    diversity: Annotated[
        str | None, typer.Option("--diversity", help="none, country_cap or mmr (default: the configuration's).")
    ] = None,
    bootstrap: Annotated[int, _outcomes.bootstrap_option(0, "Bootstrap resamples for the intervals.")] = 1000,
    seed: Seed = 0,
    skip_unknown: SkipUnknown = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also save the numeric table as CSV.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the numeric table as JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Measure match quality: leave-one-out ranks of known partnerships against baselines, in one table."""
    from matching.core.config import RankerConfig
    from matching.evaluation.compare import evaluate_variants, with_exposure_prior
    from service.cli.common import console, load_ranker

    _check_encoder(encoder)
    with _errors():
        ranker = load_ranker(registry, encoder, data_dir, config)
        variants: dict[str, RankerConfig] = {}
        for prior in exposure_prior or []:
            other = with_exposure_prior(ranker.config, prior)
            variants[f"prior {prior:g}"] = other
        for path in compare or []:
            other = RankerConfig.load(path)
            variants[other.version if other.version not in ("ranker", *variants) else path.stem] = other
        report = evaluate_variants(
            ranker, variants, partnerships, judgements, baselines=baselines, principles=principles,
            diversity=diversity, n_bootstrap=bootstrap, seed=seed, unknown="skip" if skip_unknown else "error",
        )  # fmt: skip
        if out is not None:
            write_csv(out, report.table.reset_index())  # formula cells neutralised
    if as_json:
        typer.echo(json.dumps(json.loads(report.table.reset_index().to_json(orient="records")), indent=1))
        return
    c = console()
    if not c.is_terminal and "COLUMNS" not in os.environ:
        c.width = max(c.width, 240)  # a file or a pipe gets the whole table on one line per method
    title = (
        f"Leave-one-out on {int(report.table['cases'].iloc[0]):,} cases ({ranker.config.version}); "
        f"[95% bootstrap interval]; lists of {report.list_k} for coverage, Gini, country entropy (bits)"
    )
    c.print(*_frame_tables(report.summary(digits=2), title, "method", c.width))
    mix = report.country_mix
    shown = [m for m in mix.index if not m.startswith("only:") and m != "tfidf"]
    top = mix.loc[shown].iloc[:, :8].copy()
    top["other"] = mix.loc[shown].iloc[:, 8:].sum(axis=1)
    c.print(*_frame_tables(top, f"Country mix: share of the top-{report.list_k} places", "method", c.width))
    if report.principles is not None:
        title = "Pairwise principle checks: share of pairs ordered as the principle says"
        c.print(*_frame_tables(report.principles, title, "method", c.width))
    for note in report.notes:
        c.print(f"Note: {note}", markup=False)
    if out is not None:
        c.print(f"Saved the numeric table to {out}", markup=False)


def learn_weights_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to save the learned configuration (JSON).")],
    registry: Registry = None,
    outcomes: Annotated[Path | None, _outcomes.outcomes_option(" (accepted|declined|partnership)")] = None,
    db: Annotated[str | None, _outcomes.db_option("its feedback and partnerships")] = None,
    partnerships: Annotated[
        Path | None, _outcomes.partnerships_option("Known partnerships to rank before/after (held-out evaluation).")
    ] = None,
    encoder: Encoder = "real",
    config: Config = None,
    test_size: Annotated[float, _outcomes.test_size_option(0.0, "Share of schools held out.")] = 0.3,
    random_negatives: Annotated[
        int, typer.Option("--random-negatives", min=0, help="Random allowed negatives per asking school.")
    ] = 5,
    bootstrap: Annotated[int, _outcomes.bootstrap_option(0)] = 1000,
    seed: Seed = 0,
    skip_unknown: SkipUnknown = False,
    data_dir: DataDir = None,
) -> None:
    """Learn the component weights from accepted/declined suggestions and partnerships; save a versioned config."""
    from matching.evaluation import learn_weights
    from service.cli.common import console, load_ranker

    _check_encoder(encoder)
    _outcomes.require_outcomes(outcomes, db)
    if out.suffix.lower() != ".json":
        raise typer.BadParameter(f"{out}: the file name must end in .json", param_hint="--out")
    with _errors():
        data = _outcomes.read_outcomes(outcomes, db)
        ranker = load_ranker(registry, encoder, data_dir, config)
        result = learn_weights(
            ranker, data, partnerships=partnerships, test_size=test_size, random_negatives=random_negatives,
            n_bootstrap=bootstrap, seed=seed, unknown="skip" if skip_unknown else "error",
        )  # fmt: skip
        path = result.config.save(out)
    c = console()
    fit = result.fit
    c.print(
        f"Trained on {fit.n_positive:,} positive and {fit.n_negative:,} negative pairs from "
        f"{len(result.train_schools):,} schools; cross-validated ROC AUC {fit.cv_auc:.3f} ± {fit.cv_auc_std:.3f} "
        f"(C = {fit.C:g}).",
        markup=False,
    )
    c.print(*_frame_tables(result.weights_table(ranker.config), "Weights (normalised to sum 1)", "component", c.width))
    if result.before_after is not None:
        cols = [
            col
            for col in ("cases", "heldout_auc", "recall@1", "recall@5", "recall@10", "recall@20", "MRR", "NDCG@10")
            if col in result.before_after.columns
        ]
        c.print(*_frame_tables(result.before_after[cols], "Held-out comparison", "weights", c.width))
    if result.improvement is not None:
        title = "Change after - before [95% paired bootstrap]"
        c.print(*_frame_tables(result.improvement, title, "metric", c.width))
    for note in result.notes:
        c.print(f"Note: {note}", markup=False)
    c.print(
        f"Saved {result.config.version} to {path}. Use it with --config {path} "
        f"(the API reads PARTNERMATCH_RANKER_CONFIG={path}).",
        markup=False,
    )


def synthetic_history_cmd(
    out_dir: Annotated[Path, typer.Option("--out-dir", "-o", help="Folder for partnerships.csv and outcomes.csv.")],
    registry: Registry = None,
    partnerships: Annotated[int, typer.Option("--partnerships", min=1, help="How many partnerships.")] = 300,
    outcome_schools: Annotated[
        int, typer.Option("--outcome-schools", min=0, help="Schools whose shown suggestions get outcomes.")
    ] = 300,
    shown: Annotated[int, typer.Option("--shown", min=1, max=50, help="Suggestions shown to each of them.")] = 10,
    judgements: Annotated[int, typer.Option("--judgements", min=0, help="Pairwise judgements to write.")] = 300,
    encoder: Encoder = "real",
    config: Config = None,
    seed: Seed = 0,
    data_dir: DataDir = None,
) -> None:
    """Write a seeded synthetic history (latent-preference model, not the ranker's score): partnerships,
    outcomes of shown suggestions and pairwise judgements, as the CSV files evaluate and learn-weights read."""
    from matching.evaluation import synthetic_history
    from service.cli.common import console, load_ranker

    _check_encoder(encoder)
    with _errors():
        ranker = load_ranker(registry, encoder, data_dir, config)
        history = synthetic_history(
            ranker.index, n_partnerships=partnerships, n_outcome_schools=outcome_schools, shown=shown,
            n_judgements=judgements, ranker=ranker, seed=seed, progress=True,
        )  # fmt: skip
        for name, table in (
            ("partnerships", history.partnerships), ("outcomes", history.outcomes), ("judgements", history.judgements)
        ):  # fmt: skip
            write_csv(out_dir / f"{name}.csv", table)  # formula cells neutralised
    counts = history.outcomes["outcome"].value_counts().to_dict()
    console().print(
        f"Wrote {len(history.partnerships):,} partnerships to {out_dir / 'partnerships.csv'} and "
        f"{len(history.outcomes):,} outcomes ({', '.join(f'{v:,} {k}' for k, v in sorted(counts.items()))}) "
        f"to {out_dir / 'outcomes.csv'}; {len(history.judgements):,} judgements to {out_dir / 'judgements.csv'}.",
        markup=False,
    )
