"""A real SMTP server on loopback (aiosmtpd) that keeps every message it receives, for the sign-in mail tests.

``smtp_server()`` starts one (optionally with STARTTLS on a self-signed certificate, and with a login it
checks); ``Mailbox.wait_for(to)`` waits for a message to an address and ``sign_in_url(message)`` reads the
sign-in link out of it, as a person would follow it. The ``smtp`` fixture is a plain server for one test.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.polling import eventually
from tests.support.servers import free_port

SIGN_IN_URL = re.compile(r"https?://[^\s\"'<>]+/ui/sign-in/[A-Za-z0-9_\-]+")


@dataclass
class Mailbox:
    """What the server received: ``messages`` (parsed, oldest first), and where it listens."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def to(self, address: str) -> list[EmailMessage]:
        """The messages sent to ``address``."""
        with self._lock:
            return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    def wait_for(self, address: str, n: int = 1, timeout: float = 20.0) -> EmailMessage:
        """The ``n``-th message to ``address`` once it has arrived (fails after ``timeout``)."""
        got = eventually(lambda: len(self.to(address)) >= n, timeout, 0.05, what=f"{n} message(s) to {address}")
        assert got
        return self.to(address)[n - 1]

    def env(self, **extra: str) -> dict[str, str]:
        """The server's settings for a service that should send through this server (no STARTTLS)."""
        return {
            "PARTNERMATCH_SMTP_HOST": self.host,
            "PARTNERMATCH_SMTP_PORT": str(self.port),
            "PARTNERMATCH_SMTP_STARTTLS": "false",
            "PARTNERMATCH_MAIL_SENDER": "partnermatch@example.org",
            **extra,
        }


def text_of(message: EmailMessage) -> str:
    """The plain-text body of a message."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, f"no text/plain part in {message['Subject']!r}"
    return str(part.get_content())


def sign_in_url(message: EmailMessage) -> str:
    """The one sign-in link in a message's text (and the same link in its HTML part)."""
    found = SIGN_IN_URL.findall(text_of(message))
    assert len(found) == 1, f"expected one sign-in link in the mail, found {found}"
    html = message.get_body(preferencelist=("html",))
    if html is not None:
        assert found[0] in str(html.get_content()), "the HTML part links somewhere else than the text part"
    return str(found[0])


class _Collector:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.box._lock:
            self.box.messages.append(message)
        return "250 OK message accepted"


def self_signed(directory: Path, host: str = "localhost") -> tuple[Path, Path]:
    """A self-signed certificate for ``host`` and 127.0.0.1 (files ``cert.pem``, ``key.pem``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(host), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@contextmanager
def smtp_server(
    *, tls_cert: tuple[Path, Path] | None = None, login: tuple[str, str] | None = None
) -> Iterator[Mailbox]:
    """A running SMTP server on 127.0.0.1: with ``tls_cert`` it offers (and requires) STARTTLS; with ``login``
    (user, password) it requires that login (over TLS when it offers TLS) and refuses any other."""
    box = Mailbox("127.0.0.1", free_port())
    params: dict[str, Any] = {}
    if tls_cert is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls_cert[0]), str(tls_cert[1]))
        params.update(tls_context=context, require_starttls=True)
    if login is not None:

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == login
            if ok:
                box.logins.append(data.login.decode())
            return AuthResult(success=ok, handled=False)

        params.update(authenticator=authenticator, auth_required=True, auth_require_tls=tls_cert is not None)
    controller = Controller(_Collector(box), hostname=box.host, port=box.port, **params)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    """A plain SMTP server on loopback for one test (no TLS, no login)."""
    with smtp_server() as box:
        yield box
