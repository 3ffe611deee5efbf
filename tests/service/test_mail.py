"""service.mail against a real SMTP server on loopback (aiosmtpd): plain, STARTTLS + login, failures, demo mode."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from service.config import Settings
from service.mail import Mail, Mailer, MailError, sign_in_mail
from tests.support.servers import free_port
from tests.support.smtp import Mailbox, self_signed, sign_in_url, smtp, smtp_server, text_of

__all__ = ["smtp"]  # the fixture

URL = "http://127.0.0.1:8000/ui/sign-in/abcDEF123_-xyz"


def settings_for(box: Mailbox, **extra: object) -> Settings:
    values: dict[str, object] = {"smtp_host": box.host, "smtp_port": box.port, "smtp_starttls": False,
                                 "mail_sender": "partnermatch@example.org", **extra}  # fmt: skip
    return Settings(**values)  # type: ignore[arg-type]


def test_sign_in_mail_is_delivered_with_the_link_in_text_and_html(smtp: Mailbox) -> None:
    Mailer(settings_for(smtp)).send(sign_in_mail("head@school.example", "Oak Primary", URL, 15))
    message = smtp.wait_for("head@school.example")
    assert message["From"] == "partnermatch@example.org"
    assert message["Subject"] == "Sign in to partnermatch for Oak Primary"
    assert sign_in_url(message) == URL
    assert "15 minutes" in text_of(message)


def test_starttls_and_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))  # the client trusts the test certificate, and only it
    with smtp_server(tls_cert=cert, login=("mailer", "s3cret-pass")) as box:
        settings = settings_for(box, smtp_host="localhost", smtp_starttls=True, smtp_user="mailer",
                                smtp_password="s3cret-pass")  # fmt: skip
        Mailer(settings).send(Mail("a@b.example", "hello", "body text"))
        assert text_of(box.wait_for("a@b.example")).strip() == "body text"
        assert box.logins == ["mailer"]


def test_an_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    with smtp_server(tls_cert=self_signed(tmp_path)) as box, pytest.raises(MailError, match="certificate") as info:
        Mailer(settings_for(box, smtp_host="localhost", smtp_starttls=True)).send(Mail("a@b.example", "s", "t"))
    assert info.value.status == 503
    assert box.messages == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # a test server on loopback
def test_a_wrong_password_is_a_clear_503_without_the_password(tmp_path: Path) -> None:
    with smtp_server(login=("mailer", "right-password")) as box:
        settings = settings_for(box, smtp_user="mailer", smtp_password="wrong-password")
        with pytest.raises(MailError, match="refused the login of PARTNERMATCH_SMTP_USER") as info:
            Mailer(settings).send(Mail("a@b.example", "s", "t"))
    assert "wrong-password" not in info.value.detail
    assert f"{box.host}:{box.port}" in info.value.detail
    assert box.messages == []


def test_starttls_asked_but_not_offered(smtp: Mailbox) -> None:
    with pytest.raises(MailError, match="does not offer STARTTLS"):
        Mailer(settings_for(smtp, smtp_starttls=True)).send(Mail("a@b.example", "s", "t"))
    assert smtp.messages == []


def test_an_unreachable_server_names_host_and_port() -> None:
    port = free_port()  # nothing listens there
    settings = Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False, mail_sender="x@example.org")
    with pytest.raises(MailError, match=f"SMTP server 127.0.0.1:{port} failed") as info:
        Mailer(settings).send(Mail("a@b.example", "s", "t"))
    assert info.value.status == 503
    assert info.value.headers["Retry-After"]


@pytest.mark.parametrize(
    ("values", "named"),
    [({"mail_sender": "x@example.org"}, "PARTNERMATCH_SMTP_HOST"), ({"smtp_host": "localhost"}, "MAIL_SENDER")],
)
def test_mail_settings_missing(values: dict[str, str], named: str) -> None:
    with pytest.raises(MailError, match=named):
        Mailer(Settings(**values)).send(Mail("a@b.example", "s", "t"))  # type: ignore[arg-type]


def test_demo_mode_writes_the_mail_to_the_log_and_sends_nothing(
    smtp: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(smtp, demo_mode=True)
    with caplog.at_level(logging.WARNING, logger="service.mail"):
        Mailer(settings).send(sign_in_mail("head@school.example", "Oak Primary", URL, 15))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "NOT sent" in logged and URL in logged and "head@school.example" in logged
    assert smtp.messages == []


def test_outside_demo_mode_mail_is_never_only_logged(smtp: Mailbox, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="service.mail"):
        Mailer(settings_for(smtp)).send(sign_in_mail("head@school.example", "Oak Primary", URL, 15))
    assert URL not in caplog.text
    assert sign_in_url(smtp.wait_for("head@school.example")) == URL
