"""Issue 13, "for a newcomer": `make run` (``serve --demo``) says "ready" with a demo school's page only once the
server answers, and a bad setting is a one-line error (exit code 2), never a traceback. Real server processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import typer

from service.cli.serve import DEMO_SIGN_IN_PREFIX, READY_PREFIX, load_settings
from tests.support.servers import REPO, free_port

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return response.status == 200
    except OSError:
        return False


def test_make_run_says_ready_with_a_school_page_only_once_the_server_answers(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "service", "serve", "--demo", "--demo-schools", "120", "--encoder", "hashing",
           "--port", str(port), "--data-dir", str(tmp_path), "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[tuple[float, str]] = []
    first_health: list[float] = []
    stop = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.monotonic(), line.rstrip("\n")))

    def poll_health() -> None:
        while not stop.is_set() and not first_health:
            if _answers(f"{base}/health"):
                first_health.append(time.monotonic())
            time.sleep(0.02)

    threads = [threading.Thread(target=read, daemon=True), threading.Thread(target=poll_health, daemon=True)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 120
        while not any(READY_PREFIX in text for _, text in lines):
            assert proc.poll() is None, "the server exited:\n" + "\n".join(text for _, text in lines)
            assert time.monotonic() < deadline, "no ready line:\n" + "\n".join(text for _, text in lines)
            time.sleep(0.05)
        at, line = next((at, text) for at, text in lines if READY_PREFIX in text)
        assert first_health, "the ready line came before /health answered"
        # no address is printed before the server answers (today's fault: the URLs came a minute early)
        for when, text in lines:
            if "http://" in text:
                assert when >= first_health[0] - 0.1, f"an address printed before the server answered: {text}"
        assert at >= first_health[0] - 0.1
        page = re.search(rf"{re.escape(READY_PREFIX)} (http://\S+)", line)
        assert page, line
        url = page.group(1)
        assert re.fullmatch(rf"{re.escape(base)}/ui/schools/GB-[\w.:-]+", url), line
        with urllib.request.urlopen(url, timeout=30) as response:  # the named page answers 200
            assert response.status == 200
            assert "Suggested partner schools" in response.read().decode("utf-8")
        _demo_sign_in_works(lines, base, url.rsplit("/", 1)[1])
    finally:
        stop.set()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _demo_sign_in_works(lines: list[tuple[float, str]], base: str, school_id: str) -> None:
    """Demo mode (issue 14): after the ready line, a sign-in link for the same demo school that signs in."""
    import httpx

    deadline = time.monotonic() + 30
    while not any(DEMO_SIGN_IN_PREFIX in text for _, text in lines):
        assert time.monotonic() < deadline, "no demo sign-in line:\n" + "\n".join(text for _, text in lines)
        time.sleep(0.05)
    line = next(text for _, text in lines if DEMO_SIGN_IN_PREFIX in text)
    link = re.search(rf"{re.escape(base)}/ui/sign-in/[\w-]+", line)
    assert link, line
    with httpx.Client(timeout=30) as browser:
        form = re.search(r'name="form_token" value="([^"]+)"', browser.get(link.group(0)).text)
        assert form, "no sign-in button on the link's page"
        r = browser.post(link.group(0), data={"form_token": form.group(1)})
        assert r.status_code == 303 and r.headers["location"] == f"/ui/schools/{school_id}", r.text
        assert "Signed in for" in browser.get(f"{base}/ui/schools/{school_id}").text


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "service", "serve", "--no-demo", *args]
    return subprocess.run(cmd, cwd=REPO, env={**ENV, **(env or {})}, capture_output=True, text=True, timeout=60)


def test_bad_setting_is_a_one_line_error_naming_setting_value_and_allowed_values(tmp_path: Path) -> None:
    r = _serve("--encoder", "nope", "--data-dir", str(tmp_path))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "ValidationError" not in r.stderr
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert "PARTNERMATCH_ENCODER (--encoder)" in err and "'nope'" in err and "'real'" in err and "or 'hashing'" in err

    r = _serve("--data-dir", str(tmp_path), env={"PARTNERMATCH_WORKERS": "0"})  # from the environment
    assert (
        r.returncode == 2 and r.stderr.strip() == "Error: bad setting PARTNERMATCH_WORKERS = '0': allowed: at least 1"
    )


def test_each_bad_partnermatch_setting_is_named_with_its_value_and_what_is_allowed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = {
        "PARTNERMATCH_OPEN_READS": ("maybe", "allowed: true or false"),
        "PARTNERMATCH_MAX_K": ("lots", "allowed: a whole number"),
        "PARTNERMATCH_PORT": ("70000", "allowed: at most 65535"),
        "PARTNERMATCH_ENCODER": ("bert", "allowed: 'real', "),
        "PARTNERMATCH_API_KEYS": ("tiny", "every API key must have at least 8 characters"),
        "PARTNERMATCH_SITE_KEYS": ("short", "every API key must have at least 8 characters"),
        "PARTNERMATCH_SMTP_PORT": ("0", "allowed: at least 1"),
    }
    for name, (value, allowed) in cases.items():
        with monkeypatch.context() as m:
            m.setenv(name, value)
            with pytest.raises(typer.Exit) as exit_info:
                load_settings()
        assert exit_info.value.exit_code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and name in err and allowed in err, (name, err)
        secret = name.endswith("_KEYS")
        assert (repr(value) in err) != secret, f"keys are never echoed: {err}"
