"""Sign-in tokens and sessions (issue 14), on SQLite and PostgreSQL: the site's JWTs (expired, wrong signature,
wrong audience or issuer, ``alg: none``, HS256 with the public key as the secret, too long-lived, claims
missing), one-time sign-in links (replayed, expired, unknown, for another school) and session expiry."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta
from typing import Any

import jwt
import pytest
import sqlalchemy
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from fastapi.testclient import TestClient

from service import db
from service.app import create_app
from service.auth import (
    Principal,
    csrf_ok,
    end_session,
    issue_sign_in_link,
    load_session,
    redeem_sign_in_link,
    start_session,
    verify_site_token,
)
from service.errors import AuthError, NotFoundError
from tests.support.api import AUTH_TABLES, db_dump, make_settings, registry_records, seed

ISSUER = "https://schools-online.example"
AUDIENCE = "partnermatch"


def pem_private(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def pem_public(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


SITE_KEY = ed25519.Ed25519PrivateKey.generate()
OTHER_KEY = ed25519.Ed25519PrivateKey.generate()
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "teacher@s0.example",
        "school_id": "s0",
        "iat": now,
        "exp": now + 120,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def token(key: Any = SITE_KEY, algorithm: str = "EdDSA", **changes: Any) -> str:
    return jwt.encode(claims(**changes), pem_private(key), algorithm=algorithm)


@pytest.fixture
def settings(tmp_path, database_url):
    return make_settings(
        tmp_path,
        database_url=database_url,
        site_jwt_public_key=pem_public(SITE_KEY),
        site_jwt_issuer=ISSUER,
        site_jwt_audience=AUDIENCE,
    )


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as c:
        seed(c, registry_records(6, seed=2))
        yield c


@pytest.fixture
def sessions(client):
    return client.app.state.registry.sessions


# --- the site's tokens ----------------------------------------------------------------------------------------


def test_a_good_site_token_names_the_school_and_the_user(settings):
    p = verify_site_token(settings, token())
    assert p == Principal("school", "s0", "teacher@s0.example", "session")


def test_an_rs256_token_is_accepted_when_configured_and_refused_when_not(settings):
    rs = token(RSA_KEY, "RS256")
    with pytest.raises(AuthError, match="algorithm not accepted"):
        verify_site_token(settings.model_copy(update={"site_jwt_public_key": pem_public(RSA_KEY)}), rs)
    configured = settings.model_copy(
        update={"site_jwt_public_key": pem_public(RSA_KEY), "site_jwt_algorithms": ("RS256",)}
    )
    assert verify_site_token(configured, rs).school_id == "s0"


def test_the_public_key_may_be_a_file(settings, tmp_path):
    path = tmp_path / "site.pem"
    path.write_text(pem_public(SITE_KEY))
    assert verify_site_token(settings.model_copy(update={"site_jwt_public_key": str(path)}), token()).subject


def unsigned(payload: dict[str, Any], header: dict[str, Any]) -> str:
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part(header)}.{part(payload)}."


BAD_TOKENS = {
    "expired": (lambda: token(iat=int(time.time()) - 400, exp=int(time.time()) - 200), "expired"),
    "wrong signature": (lambda: token(OTHER_KEY), "bad signature"),
    "wrong audience": (lambda: token(aud="another-service"), "another audience"),
    "wrong issuer": (lambda: token(iss="https://evil.example"), "wrong issuer"),
    "alg none": (lambda: unsigned(claims(), {"alg": "none", "typ": "JWT"}), "algorithm not accepted"),
    "HS256 with the public key as secret": (lambda: _hs256_with_public_key(), "algorithm not accepted"),
    "too long-lived": (lambda: token(exp=int(time.time()) + 3600), "at most 300 s"),
    "no exp": (lambda: token(exp=None), "'exp'"),
    "no school_id": (lambda: token(school_id=None), "school_id"),
    "no sub": (lambda: token(sub=None), "'sub'"),
    "garbage": (lambda: "not.a.token", "not valid"),
}


def _hs256_with_public_key() -> str:
    """The classic confusion attack: an HMAC token keyed with the (public) verification key's PEM text."""
    import hashlib
    import hmac

    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=")
    signing = header + b"." + body
    sig = hmac.new(pem_public(SITE_KEY).encode(), signing, hashlib.sha256).digest()
    return (signing + b"." + base64.urlsafe_b64encode(sig).rstrip(b"=")).decode()


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_a_bad_site_token_is_refused_with_its_reason(settings, case):
    make, reason = BAD_TOKENS[case]
    with pytest.raises(AuthError, match=reason) as caught:
        verify_site_token(settings, make())
    assert caught.value.status == 403


def test_site_sign_in_unconfigured_is_refused(settings):
    with pytest.raises(AuthError, match="not configured"):
        verify_site_token(settings.model_copy(update={"site_jwt_public_key": None}), token())
    with pytest.raises(AuthError, match="not configured"):
        verify_site_token(settings.model_copy(update={"site_jwt_issuer": None}), token())


def test_settings_refuse_an_algorithm_other_than_eddsa_or_rs256(tmp_path):
    with pytest.raises(ValueError, match="site_jwt_algorithms"):
        make_settings(tmp_path, site_jwt_algorithms="HS256")
    with pytest.raises(ValueError, match="site_jwt_algorithms"):
        make_settings(tmp_path, site_jwt_algorithms="none")


# --- sign-in links --------------------------------------------------------------------------------------------


def test_a_link_signs_in_its_school_once_and_is_stored_only_hashed(client, settings, sessions, database_url):
    link = issue_sign_in_link(settings, sessions, "s0")
    assert link.url == f"{settings.base_url}/ui/sign-in/{link.token}" and len(link.token) >= 40
    stored = db_dump(database_url, AUTH_TABLES)["sign_in_links"]
    assert len(stored) == 1 and link.token not in repr(stored)
    principal = redeem_sign_in_link(settings, sessions, link.token)
    assert (principal.role, principal.school_id, principal.subject) == ("school", "s0", link.email)
    with pytest.raises(AuthError, match="used already"):
        redeem_sign_in_link(settings, sessions, link.token)  # replayed


def test_a_link_names_only_its_own_school(client, settings, sessions):
    mine, other = issue_sign_in_link(settings, sessions, "s0"), issue_sign_in_link(settings, sessions, "s1")
    assert mine.email != other.email or mine.school_id != other.school_id
    assert redeem_sign_in_link(settings, sessions, other.token).school_id == "s1"
    assert redeem_sign_in_link(settings, sessions, mine.token).school_id == "s0"


def test_an_expired_or_unknown_link_is_refused(client, settings, sessions, database_url):
    link = issue_sign_in_link(settings, sessions, "s0")
    engine = sqlalchemy.create_engine(database_url, poolclass=sqlalchemy.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text("UPDATE sign_in_links SET expires_at = :t"), {"t": db.utcnow() - timedelta(seconds=1)}
        )
    engine.dispose()
    with pytest.raises(AuthError, match="expired"):
        redeem_sign_in_link(settings, sessions, link.token)
    with pytest.raises(AuthError, match="unknown"):
        redeem_sign_in_link(settings, sessions, "x" * 43)


def test_no_link_for_an_unknown_school(client, settings, sessions):
    with pytest.raises(NotFoundError):
        issue_sign_in_link(settings, sessions, "no-such-school")


# --- sessions -------------------------------------------------------------------------------------------------


def age(database_url: str, column: str, by: timedelta) -> None:
    """Move every session's ``column`` back by ``by`` (as if that much time had passed)."""
    engine = sqlalchemy.create_engine(database_url, poolclass=sqlalchemy.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"UPDATE sessions SET {column} = :t"), {"t": db.utcnow() - by})
    engine.dispose()


def test_a_session_is_new_at_each_sign_in_hashed_and_ends_at_sign_out(client, settings, sessions, database_url):
    principal = Principal("school", "s0", "head@s0.example", "session")
    first, csrf1 = start_session(settings, sessions, principal)
    second, csrf2 = start_session(settings, sessions, principal)
    assert first != second and csrf1 != csrf2
    stored = repr(db_dump(database_url, AUTH_TABLES)["sessions"])
    assert first not in stored and second not in stored
    info = load_session(settings, sessions, first)
    assert info is not None and info.principal == principal
    assert csrf_ok(info, csrf1) and not csrf_ok(info, csrf2) and not csrf_ok(info, None) and not csrf_ok(None, csrf1)
    end_session(sessions, first)
    assert load_session(settings, sessions, first) is None
    assert load_session(settings, sessions, second) is not None


def test_an_idle_session_expires(client, settings, sessions, database_url):
    session_id, _ = start_session(settings, sessions, Principal("school", "s0", "a", "session"))
    age(database_url, "last_seen_at", timedelta(minutes=settings.session_idle_minutes - 1))
    assert load_session(settings, sessions, session_id) is not None  # in use: refreshed
    age(database_url, "last_seen_at", timedelta(minutes=settings.session_idle_minutes, seconds=1))
    assert load_session(settings, sessions, session_id) is None
    assert db_dump(database_url, AUTH_TABLES)["sessions"] == []  # and deleted


def test_a_session_expires_absolutely_even_in_use(client, settings, sessions, database_url):
    session_id, _ = start_session(settings, sessions, Principal("school", "s0", "a", "session"))
    age(database_url, "created_at", timedelta(hours=settings.session_max_hours, seconds=1))
    assert load_session(settings, sessions, session_id) is None


def test_an_expired_session_cookie_is_anonymous_on_the_api(client, settings, sessions, database_url):
    session_id, csrf = start_session(settings, sessions, Principal("school", "s0", "a", "session"))
    headers = {"Cookie": f"pm_session={session_id}", "X-CSRF-Token": csrf}
    assert client.get("/v1/schools/s0/private", headers=headers).status_code == 200
    age(database_url, "last_seen_at", timedelta(hours=1))
    assert client.get("/v1/schools/s0/private", headers=headers).status_code == 401
