"""Settings from HOARD_* environment variables (and the command line, which overrides them)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOARD_", extra="ignore")

    root_access_key: str | None = None
    root_secret_key: str | None = None
    region: str = "us-east-1"
    region_strict: bool = False
    # Virtual-hosted-style addressing: with "s3.localhost", bucket.s3.localhost names a bucket.
    domain: str | None = None
    # Seconds a replaced object's bytes are kept before reclaim, so readers that looked it up
    # just before the replacement can still open it.
    reclaim_grace: float = 30.0
    max_object_size: int = 5 * 1024**3
    # Seconds a request body may stall before the request is answered 400 RequestTimeout, as S3 does.
    body_timeout: float = 20.0
    # Erasure coding: parity shards per set for STANDARD (default by set size) and
    # REDUCED_REDUNDANCY; objects under inline_limit bytes live inside their version records.
    parity: int | None = None
    reduced_parity: int | None = None
    inline_limit: int = 128 * 1024
    # Bytes per second the background scanner may read to verify shards (0 turns it off).
    scanner_rate: float = 32 * 1024 * 1024
    # Seconds between drive probes (offline drives coming back, replaced empty drives).
    probe_interval: float = 5.0
    log_level: str = "info"
    # Server processes sharing the port (hoard.supervisor); 1 serves from this process alone.
    workers: int = 1
