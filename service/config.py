"""Service settings, read from ``PARTNERMATCH_*`` environment variables when the app is created (never at import)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the service can be told. Environment variables: ``PARTNERMATCH_<NAME>``.

    ``api_keys`` and ``read_api_keys`` take a comma-separated list (or a JSON list).
    """

    model_config = SettingsConfigDict(env_prefix="PARTNERMATCH_", extra="ignore", validate_default=True)

    data_dir: Path = Field(Path("var"), description="registry database, embedding cache and batch results live here")
    database_url: str | None = Field(
        None,
        description="SQLite (sqlite:///path) or PostgreSQL (postgresql+psycopg://user:password@host/db, needs "
        "`pip install 'partnermatch[postgres]'`); default: SQLite file <data_dir>/registry.sqlite (WAL mode)",
    )
    encoder: Literal["real", "hashing"] = Field(
        "real", description="real: all-MiniLM-L6-v2; hashing: fast bag-of-words stand-in (tests, quick demos)"
    )
    ranker_config: Path | None = Field(None, description="a RankerConfig JSON file (weights, constraints, diversity)")
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        (), description="keys allowed to write (X-API-Key header); none configured means writes are refused"
    )
    read_api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        (), description="extra keys allowed to read when reads need a key"
    )
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
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)

    @field_validator("api_keys", "read_api_keys", mode="before")
    @classmethod
    def _split_keys(cls, v: Any) -> Any:
        if isinstance(v, str):
            text = v.strip()
            if text.startswith("["):
                import json

                return tuple(json.loads(text))
            return tuple(k.strip() for k in text.split(",") if k.strip())
        return v

    @field_validator("api_keys", "read_api_keys")
    @classmethod
    def _non_empty(cls, v: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        if any(len(k.get_secret_value()) < 8 for k in v):
            raise ValueError("every API key must have at least 8 characters")
        return v

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL in force."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'registry.sqlite').resolve()}"

    def write_keys(self) -> tuple[bytes, ...]:
        """Write keys as bytes (for constant-time comparison)."""
        return tuple(k.get_secret_value().encode() for k in self.api_keys)

    def read_keys(self) -> tuple[bytes, ...]:
        """Keys allowed to read (read keys and write keys)."""
        return tuple(k.get_secret_value().encode() for k in self.read_api_keys) + self.write_keys()
