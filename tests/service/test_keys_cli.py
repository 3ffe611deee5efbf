"""``partnermatch keys``: the admin makes, lists, rotates and revokes keys on the server's database from the
shell; a running server accepts and then refuses them (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.app import create_app
from service.auth.apikeys import CACHE_SECONDS
from service.cli.keys import app as keys_app
from tests.support.api import STAFF, make_settings
from tests.support.polling import eventually


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(keys_app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_keys_made_in_the_shell_work_on_the_server_until_revoked(tmp_path, database_url, monkeypatch):
    monkeypatch.setenv("PARTNERMATCH_DATABASE_URL", database_url)
    code, out, err = run("create", "--role", "staff", "--name", "night export", "--json")
    assert code == 0, err
    made = json.loads(out)
    assert made["key"].startswith("pmk_") and made["role"] == "staff" and made["state"] == "live"
    with TestClient(create_app(make_settings(tmp_path, database_url=database_url))) as client:
        key = {"X-API-Key": made["key"]}
        assert client.get("/v1/audit", headers=key).status_code == 200
        audit = client.get("/v1/audit", params={"action": "key.create"}, headers=STAFF).json()["items"]
        assert len(audit) == 1 and audit[0]["subject"].startswith("cli ") and audit[0]["targets"] == [made["id"]]
        code, out, err = run("list")
        assert code == 0 and made["id"] in out and made["prefix"] in out and made["key"] not in out
        code, out, err = run("rotate", made["id"], "--grace-minutes", "0")
        assert code == 0 and "key: pmk_" in out and "not shown again" in out
        new_key = out.split("key: ", 1)[1].split()[0]
        eventually(
            lambda: client.get("/v1/audit", headers=key).status_code == 401,
            timeout=CACHE_SECONDS + 5,
            what="the rotated key is refused",
        )
        assert client.get("/v1/audit", headers={"X-API-Key": new_key}).status_code == 200
        new_id = out.split()[0]
        assert run("revoke", new_id)[0] == 0
        eventually(
            lambda: client.get("/v1/audit", headers={"X-API-Key": new_key}).status_code == 401,
            timeout=CACHE_SECONDS + 5,
            what="the revoked key is refused",
        )
        code, out, err = run("list", "--all", "--json")
        assert {(k["id"], k["state"]) for k in json.loads(out)} == {(made["id"], "revoked"), (new_id, "revoked")}


def test_bad_shell_requests_are_one_line_errors(database_url, monkeypatch):
    monkeypatch.setenv("PARTNERMATCH_DATABASE_URL", database_url)
    code, _, err = run("create", "--role", "admin", "--name", "x")
    assert code == 2 and "role" in err and "staff, site, reader, school" in err and "Traceback" not in err
    code, _, err = run("create", "--role", "school", "--name", "x", "--school", "nowhere")
    assert code == 1 and "'nowhere' is not registered" in err
    code, _, err = run("revoke", "key_nosuchkey")
    assert code == 1 and "'key_nosuchkey' does not exist" in err
    assert run("list")[0] == 0
