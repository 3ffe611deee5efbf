"""The examples in README.md and docs/**/*.md run, and print what the docs say they print.

- ```python blocks run in order, one namespace per page, in a fresh directory; a ``#> text`` comment
  under a statement is the output it must print (``...`` matches anything, whitespace is normalised).
- ```console blocks: each ``$ partnermatch ...`` line runs (as ``python -m service ...``) and must exit 0
  printing the lines that follow it.
- ```bash blocks: each ``partnermatch ...`` line must parse (the command and its options exist), and each
  ``curl`` call must name a route of the HTTP API with that method.
"""

from __future__ import annotations

import ast
import contextlib
import doctest
import io
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
CHECKER = doctest.OutputChecker()
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, text and first line (1-based, in the page)."""

    page: Path
    lang: str
    text: str
    line: int

    def where(self, offset: int = 0) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line + offset}"


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a markdown page."""
    found: list[Block] = []
    lines = page.read_text("utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)```+\s*([\w-]*)", lines[i])
        if not m:
            i += 1
            continue
        indent, lang, start = len(m.group(1)), m.group(2), i + 1
        j = start
        while j < len(lines) and not lines[j].strip().startswith("```"):
            j += 1
        body = "\n".join(line[indent:] for line in lines[start:j])
        found.append(Block(page, lang, body + "\n", start + 1))
        i = j + 1
    return found


def pages_with(lang: str) -> list[Path]:
    return [p for p in PAGES if any(b.lang == lang for b in blocks(p))]


def ids(pages: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in pages]


def matches(expected: str, got: str) -> bool:
    return CHECKER.check_output(expected.rstrip() + "\n", got.rstrip() + "\n", OPTIONS)


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory with its own data dir (registries, embedding cache)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PARTNERMATCH_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


# ---------------------------------------------------------------- python


def expected_outputs(source: str, tree: ast.Module) -> list[tuple[ast.stmt, str | None]]:
    """Each top-level statement with the ``#>`` lines that follow it (None when there are none)."""
    lines = source.splitlines()
    out: list[tuple[ast.stmt, str | None]] = []
    for k, stmt in enumerate(tree.body):
        end = tree.body[k + 1].lineno - 1 if k + 1 < len(tree.body) else len(lines)
        shown = [ln.strip()[2:].removeprefix(" ") for ln in lines[stmt.end_lineno : end] if ln.strip().startswith("#>")]
        out.append((stmt, "\n".join(shown) if shown else None))
    return out


@pytest.mark.parametrize("page", pages_with("python"), ids=ids(pages_with("python")))
def test_python_examples_run_and_print_what_they_show(page: Path, sandbox: Path) -> None:
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for block in (b for b in blocks(page) if b.lang == "python"):
        tree = ast.parse(block.text, filename=block.where())
        for stmt, expected in expected_outputs(block.text, tree):
            code = compile(ast.Module(body=[stmt], type_ignores=[]), block.where(stmt.lineno - 1), "exec")
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(code, namespace)
            if expected is not None:
                assert matches(expected, printed.getvalue()), (
                    f"{block.where(stmt.lineno - 1)}: the docs show\n{expected}\nbut it printed\n{printed.getvalue()}"
                )


# ---------------------------------------------------------------- console


def console_commands(block: Block) -> list[tuple[int, list[str], str]]:
    """``(line offset, argv after 'partnermatch', expected output)`` for each ``$`` line of a console block."""
    out: list[tuple[int, list[str], str]] = []
    for k, line in enumerate(block.text.splitlines()):
        if line.startswith("$ "):
            argv = shlex.split(line[2:], comments=True)
            assert argv[0] == "partnermatch", f"{block.where(k)}: console examples run partnermatch only: {line}"
            out.append((k, argv[1:], ""))
        else:
            assert out, f"{block.where(k)}: output before any $ command"
            k0, argv, shown = out[-1]
            out[-1] = (k0, argv, shown + line + "\n")
    return out


@pytest.mark.parametrize("page", pages_with("console"), ids=ids(pages_with("console")))
def test_console_examples_print_what_they_show(page: Path, sandbox: Path) -> None:
    env = {**os.environ, "COLUMNS": "100", "PYTHONWARNINGS": "ignore"}
    for block in (b for b in blocks(page) if b.lang == "console"):
        for k, argv, expected in console_commands(block):
            done = subprocess.run(
                [sys.executable, "-m", "service", *argv], cwd=sandbox, env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, f"{block.where(k)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
            assert matches(expected, done.stdout), (
                f"{block.where(k)}: the docs show\n{expected}\nbut it printed\n{done.stdout}"
            )


# ---------------------------------------------------------------- bash


def _complete(line: str) -> bool:
    try:
        shlex.split(line, comments=True)
    except ValueError:  # an open quote: the command goes on on the next line
        return False
    return not line.endswith("\\")


def shell_lines(block: Block) -> list[tuple[int, str]]:
    """Logical lines (continuations and open quotes joined, comments dropped) with their offsets in the block."""
    out: list[tuple[int, str]] = []
    pending, first = "", 0
    for k, raw in enumerate(block.text.splitlines()):
        if not pending:
            first = k
            if raw.lstrip().startswith("#"):
                continue
        pending = pending + ("\n" if pending else "") + raw
        if _complete(pending):
            out.append((first, pending.strip()))
            pending = ""
    assert not pending, f"{block.where(first)}: unfinished command {pending!r}"
    return [(k, ln) for k, ln in out if ln]


def commands(line: str) -> list[list[str]]:
    """The simple commands of a shell line (split at ``;``, ``&&``, ``||``, ``|``), comments dropped."""
    lexer = shlex.shlex(line.replace("\\\n", " "), posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    out: list[list[str]] = [[]]
    for token in lexer:
        if token in (";", "&&", "||", "|", "&"):
            out.append([])
        else:
            out[-1].append(token)
    return [c for c in out if c]


def partnermatch_calls(block: Block) -> list[tuple[int, list[str]]]:
    calls = []
    for k, line in shell_lines(block):
        for words in commands(line):
            if words[0] in ("partnermatch", ".venv/bin/partnermatch"):
                calls.append((k, words[1:]))
    return calls


def curl_calls(block: Block) -> list[tuple[int, str, str]]:
    """``(line offset, method, path)`` of each curl call."""
    calls = []
    for k, line in shell_lines(block):
        for words in commands(line):
            if words[0] != "curl":
                continue
            verb = "GET"
            if any(w in ("-d", "--data", "--data-binary") for w in words):
                verb = "POST"
            if "-X" in words:
                verb = words[words.index("-X") + 1]
            urls = [m.group(1) for w in words if (m := re.match(r"(?:\$API|https?://127\.0\.0\.1:8000)(/[^?]*)", w))]
            assert urls, f"{block.where(k)}: no API URL in {shlex.join(words)}"
            calls.append((k, verb, urls[0]))
    return calls


@pytest.mark.parametrize("page", pages_with("bash"), ids=ids(pages_with("bash")))
def test_shell_examples_name_real_commands_options_and_routes(page: Path) -> None:
    import typer
    from starlette.routing import Match

    from service.app import create_app
    from service.cli import app

    group = typer.main.get_command(app)
    usage_error = typer.BadParameter.__mro__[1]  # click's UsageError (typer bundles its own click)
    assert usage_error.__name__ == "UsageError"
    routes = create_app().routes
    for block in (b for b in blocks(page) if b.lang == "bash"):
        for k, argv in partnermatch_calls(block):
            ctx = group.make_context("partnermatch", [argv[0]], resilient_parsing=True)
            name = argv[0]
            command = group.get_command(ctx, name)
            assert command is not None, f"{block.where(k)}: no command partnermatch {name}"
            try:
                command.make_context(name, list(argv[1:]), parent=ctx)
            except typer.BadParameter as error:
                if type(getattr(error.param, "type", None)).__name__ != "Path":  # example files need not exist
                    pytest.fail(f"{block.where(k)}: partnermatch {shlex.join(argv)}: {error.format_message()}")
            except usage_error as error:
                pytest.fail(f"{block.where(k)}: partnermatch {shlex.join(argv)}: {error.format_message()}")
        for k, verb, path in curl_calls(block):
            path = re.sub(r"\$\w+|\$\{\w+\}", "1", path)
            scope = {"type": "http", "path": path, "method": verb}
            assert any(r.matches(scope)[0] == Match.FULL for r in routes), (
                f"{block.where(k)}: no route {verb} {path} in the HTTP API"
            )
