"""Service settings, read from ``PARTNERMATCH_*`` environment variables when the app is created (never at import)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

KEY_FIELDS = ("api_keys", "read_api_keys", "staff_keys", "site_keys", "admin_keys")


class Settings(BaseSettings):
    """Everything the service can be told. Environment variables: ``PARTNERMATCH_<NAME>``.

    The key lists (``api_keys``, ``read_api_keys``, ``staff_keys``, ``site_keys``, ``admin_keys``) take a
    comma-separated list (or a JSON list). ``api_keys`` are staff keys too (the single write key of before).
    """

    model_config = SettingsConfigDict(
        env_prefix="PARTNERMATCH_", extra="ignore", validate_default=True, hide_input_in_errors=True
    )

    data_dir: Path = Field(Path("var"), description="registry database, embedding cache and batch results live here")
    database_url: str | None = Field(
        None,
        description="SQLite (sqlite:///path) or PostgreSQL (postgresql+psycopg://user:password@host/db, needs "
        "`pip install 'partnermatch[postgres]'`); default: SQLite file <data_dir>/registry.sqlite (WAL mode)",
    )
    encoder: Literal["real", "multilingual", "hashing"] = Field(
        "real",
        description="real: all-MiniLM-L6-v2 (English); multilingual: USE multilingual v3 (16 languages, "
        "docs/concepts/multilingual.md); hashing: fast bag-of-words stand-in (tests, quick demos)",
    )
    reencode: bool = Field(
        False,
        description="the embedding cache holds another model's vectors: drop them and re-encode every description "
        "(without it the service refuses to start, naming both models)",
    )
    ranker_config: Path | None = Field(None, description="a RankerConfig JSON file (weights, constraints, diversity)")
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        (), description="keys allowed to write (X-API-Key header); none configured means writes are refused"
    )
    read_api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        (), description="extra keys allowed to read when reads need a key"
    )
    staff_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        (), description="programme staff keys: any school, cohorts, batch jobs, the audit log"
    )
    site_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        (), description="the Schools Online server's keys: act for the one school named in X-Acting-For"
    )
    admin_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        (), description="admin keys: manage keys; staff powers as well"
    )
    site_jwt_public_key: str | None = Field(
        None, description="the site's public key for its sign-in tokens: PEM text, or the path of a PEM file"
    )
    site_jwt_issuer: str | None = Field(None, description="the `iss` the site's tokens must carry")
    site_jwt_audience: str | None = Field(None, description="the `aud` the site's tokens must carry")
    site_jwt_algorithms: Annotated[tuple[Literal["EdDSA", "RS256"], ...], NoDecode] = Field(
        ("EdDSA",), description="algorithms accepted for the site's tokens (EdDSA, RS256)"
    )
    site_token_max_seconds: int = Field(300, ge=10, le=3600, description="longest lifetime (exp - iat) accepted")
    session_idle_minutes: int = Field(30, ge=1, le=24 * 60, description="a session unused this long ends")
    session_max_hours: int = Field(12, ge=1, le=24 * 30, description="a session ends this long after sign-in")
    sign_in_link_minutes: int = Field(15, ge=1, le=24 * 60, description="a sign-in link is valid this long")
    public_url: str | None = Field(None, description="base URL in mailed links; default http://{host}:{port}")
    private_page: bool = Field(False, description="the school page shows nothing until sign-in")
    demo_mode: bool = Field(False, description="mail is written to the log instead of being sent (serve --demo)")
    smtp_host: str | None = Field(None, description="SMTP server for sign-in mail")
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_starttls: bool = Field(True, description="STARTTLS before logging in")
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    mail_sender: str | None = Field(None, description="From: address of sign-in mail")
    rate_sign_in: str = Field("5/minute", description="sign-in link requests per address and per school")
    rate_writes: str = Field("120/minute", description="writes per key, session or address")
    open_reads: bool = Field(True, description="reads without a key; False: reads need a read or write key")
    max_body_bytes: int = Field(10_000_000, ge=1024, description="larger request bodies get 413")
    load_demo: bool = Field(False, description="import the demo registry on start when the database has no school")
    demo_schools: int = Field(2000, ge=2, le=200_000, description="size of the demo registry")
    demo_seed: int = 0
    max_k: int = Field(100, ge=1, le=1000, description="largest number of suggestions one request may ask for")
    max_page_size: int = Field(500, ge=1, le=10_000)
    blas_threads: int = Field(1, ge=1, description="BLAS threads per process (requests run in parallel threads)")
    workers: int = Field(1, ge=1, le=64, description="server processes (serve); each holds the index in memory")
    sync_interval: float = Field(
        0.5, ge=0, le=60, description="seconds between replays of other processes' writes (0: off)"
    )
    batch_workers: int = Field(1, ge=1, le=8, description="batch assignments running at once")
    request_expiry_days: float = Field(21, gt=0, le=365, description="an unanswered partnership request expires")
    request_reminder_days: float = Field(
        14, gt=0, le=365, description="one reminder to the receiver this long after a request, if still open"
    )
    max_open_requests: int = Field(5, ge=1, le=100, description="open outgoing partnership requests per school")
    exposure_cap: int = Field(
        10, ge=1, le=1000, description="a school with this many unanswered requests is shown less in others' lists"
    )
    outbox_poll_seconds: float = Field(2.0, ge=0, le=600, description="the mail sender looks for mail (0: off)")
    outbox_retry_seconds: float = Field(30.0, gt=0, le=86_400, description="first retry delay; doubles each time")
    outbox_max_attempts: int = Field(10, ge=1, le=100, description="send attempts before a mail is given up")
    outbox_lease_seconds: float = Field(120.0, gt=0, le=86_400, description="a claimed mail is retried after this")
    requests_job_seconds: float = Field(
        300.0, ge=0, le=86_400, description="how often open requests are expired and reminded (0: off)"
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)

    @field_validator(*KEY_FIELDS, "site_jwt_algorithms", mode="before")
    @classmethod
    def _split_keys(cls, v: Any) -> Any:
        if isinstance(v, str):
            text = v.strip()
            if text.startswith("["):
                import json

                return tuple(json.loads(text))
            return tuple(k.strip() for k in text.split(",") if k.strip())
        return v

    @field_validator(*KEY_FIELDS)
    @classmethod
    def _non_empty(cls, v: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        if any(len(k.get_secret_value()) < 8 for k in v):
            raise ValueError("every API key must have at least 8 characters")
        return v

    @field_validator("rate_sign_in", "rate_writes")
    @classmethod
    def _rate(cls, v: str) -> str:
        from limits import parse_many

        try:
            parse_many(v)
        except ValueError:
            raise ValueError(f"{v!r} is not a rate; write e.g. '5/minute' or '100/hour;10/second'") from None
        return v

    @model_validator(mode="after")
    def _one_role_per_key(self) -> Settings:
        seen: dict[str, str] = {}
        for name in ("read_api_keys", "site_keys", "staff_keys", "admin_keys"):
            for key in getattr(self, name):
                other = seen.setdefault(key.get_secret_value(), name)
                if other != name:
                    raise ValueError(f"a key is listed in both {other} and {name}: give each role keys of its own")
        return self

    @property
    def base_url(self) -> str:
        """The service's public base URL (``public_url``, else ``http://{host}:{port}``), without a final slash."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL in force."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'registry.sqlite').resolve()}"

    def keys_of(self, role: str) -> tuple[bytes, ...]:
        """The keys of a role ("admin", "staff" (``staff_keys`` and ``api_keys``), "site", "reader"), as bytes."""
        fields = {"admin": ("admin_keys",), "staff": ("staff_keys", "api_keys"), "site": ("site_keys",)}
        names = fields.get(role, ("read_api_keys",) if role == "reader" else None)
        if names is None:
            raise ValueError(f"role {role!r}: keys exist for admin, staff, site and reader")
        return tuple(k.get_secret_value().encode() for name in names for k in getattr(self, name))

    def write_keys(self) -> tuple[bytes, ...]:
        """Keys with staff powers (staff, the old ``api_keys``, and admin keys), as bytes."""
        return self.keys_of("staff") + self.keys_of("admin")

    def read_keys(self) -> tuple[bytes, ...]:
        """Every key allowed to read (read, staff, admin and site keys)."""
        return self.keys_of("reader") + self.write_keys() + self.keys_of("site")
