"""Outgoing mail (the standalone sign-in links): SMTP from the settings, or the log in demo mode.

``Mailer(settings).send(to, subject, text, html)`` sends one message through ``smtp_host:smtp_port``
(STARTTLS when ``smtp_starttls``, then login when ``smtp_user`` is set) from ``mail_sender``.
In ``demo_mode`` the message is written to the log instead and nothing is sent; outside demo mode it
never is. Any SMTP failure becomes a ``MailError`` (503) that names the server and the reason, never
the password.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from html import escape

from service.config import Settings
from service.errors import ServiceError

log = logging.getLogger(__name__)

SMTP_TIMEOUT_S = 15.0
DEMO_SENDER = "partnermatch-demo@localhost"


class MailError(ServiceError):
    """Mail could not be sent (503): the SMTP server is not configured, unreachable, or refused the message."""

    status = 503

    def __init__(self, detail: str) -> None:
        super().__init__(detail, [("smtp", detail, None, None, None)])
        self.headers = {"Retry-After": "60"}


@dataclass(frozen=True)
class Mail:
    """One message: the recipient, the subject, a plain-text body and an optional HTML body."""

    to: str
    subject: str
    text: str
    html: str | None = None


class Mailer:
    """Sends mail with the settings' SMTP server (or, in demo mode, writes it to the log)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def sender(self) -> str:
        """The From: address (``mail_sender``; in demo mode a stand-in when none is set)."""
        if self.settings.mail_sender:
            return self.settings.mail_sender
        if self.settings.demo_mode:
            return DEMO_SENDER
        raise MailError("mail is off: set PARTNERMATCH_MAIL_SENDER (the From: address of sign-in mail)")

    def check(self) -> None:
        """Raise ``MailError`` when mail cannot be sent with these settings (outside demo mode: no host, no sender)."""
        if self.settings.demo_mode:
            return
        if not self.settings.smtp_host:
            raise MailError("mail is off: set PARTNERMATCH_SMTP_HOST (and port, user, password) to send sign-in links")
        _ = self.sender

    def message(self, mail: Mail) -> EmailMessage:
        """The MIME message: plain text, with the HTML as an alternative."""
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = mail.to
        msg["Subject"] = mail.subject
        msg["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        msg.set_content(mail.text)
        if mail.html is not None:
            msg.add_alternative(mail.html, subtype="html")
        return msg

    def send(self, mail: Mail) -> None:
        """Send ``mail`` (demo mode: log it). Raises ``MailError`` (503) naming what failed."""
        self.check()
        msg = self.message(mail)
        if self.settings.demo_mode:
            log.warning(
                "demo mode: this mail was NOT sent (PARTNERMATCH_DEMO_MODE=true writes mail to the log)\n"
                "To: %s\nSubject: %s\n\n%s",
                mail.to,
                mail.subject,
                mail.text,
            )
            return
        host, port = self.settings.smtp_host or "", self.settings.smtp_port
        where = f"SMTP server {host}:{port}"
        try:
            with smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT_S) as smtp:
                if self.settings.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.settings.smtp_user:
                    password = self.settings.smtp_password.get_secret_value() if self.settings.smtp_password else ""
                    smtp.login(self.settings.smtp_user, password)
                refused = smtp.send_message(msg)
        except smtplib.SMTPNotSupportedError as exc:
            raise _failed(where, f"it does not offer STARTTLS ({_reason(exc)}); set PARTNERMATCH_SMTP_STARTTLS=false "
                          "only for a server on a trusted network") from None  # fmt: skip
        except smtplib.SMTPAuthenticationError as exc:
            raise _failed(where, f"it refused the login of PARTNERMATCH_SMTP_USER ({_reason(exc)})") from None
        except smtplib.SMTPRecipientsRefused:
            raise _failed(where, f"it refused the recipient {mail.to}") from None
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise _failed(where, _reason(exc)) from None
        if refused:
            raise _failed(where, f"it refused the recipient {mail.to}")


def _reason(exc: BaseException) -> str:
    """A short reason from an SMTP or socket error (the server's reply text when it gave one)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {text}".strip()[:200]
    return (str(exc) or type(exc).__name__).splitlines()[0][:200]


def _failed(where: str, reason: str) -> MailError:
    log.error("sending mail through the %s failed: %s", where, reason)
    return MailError(f"the sign-in mail could not be sent: the {where} failed: {reason}; try again later")


def sign_in_mail(to: str, school_name: str, url: str, minutes: int) -> Mail:
    """The sign-in message for a school's contact address: the one-time link, how long it lasts, what to ignore."""
    text = (
        f"Hello,\n\nSomeone asked to sign in to partnermatch for {school_name}.\n\n"
        f"Open this link to sign in (it works once, for {minutes} minutes):\n\n{url}\n\n"
        "If you did not ask for it, ignore this message: nothing happens until the link is opened and confirmed.\n"
    )
    html = (
        f"<p>Hello,</p><p>Someone asked to sign in to partnermatch for {escape(school_name)}.</p>"
        f'<p><a href="{escape(url)}">Sign in to partnermatch</a> (the link works once, for {minutes} minutes).</p>'
        "<p>If you did not ask for it, ignore this message: nothing happens until the link is opened and "
        "confirmed.</p>"
    )
    return Mail(to=to, subject=f"Sign in to partnermatch for {school_name}", text=text, html=html)
