"""The hub's settings, from the environment (BACKROOM_HUB_*) or arguments."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BACKROOM_HUB_")

    database_url: str = "sqlite:///hub.sqlite"
    max_body_bytes: int = 2_000_000  # a full 1,000-entry push is about 600 kB
    pool_size: int = 10  # database connections per hub process, and threads that use them
    expire_every_s: float = 5.0  # how often cart holds past their time are returned
    # How often a balancer pass runs (in whichever hub process takes the lease first); 0: never.
    balance_every_s: float = Field(default=300.0, ge=0)
    balance_lease_s: float = Field(default=120.0, gt=0)  # a pass whose process died frees its lease after this
    # A store the hub has heard from for less than this is granted quota but never asked for any back.
    balance_min_history_h: float = Field(default=168.0, ge=0, le=672)
    # ISO 3166 alpha-2: the country whose in-store code layout the chain prints, told to each
    # store in its opening (in-store price and weight codes mean different things by country).
    rcn_country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    # The nightly report: made at report_at (HH:MM) in the chain's zone for the business date just ended, in one
    # hub process (a lease); kept report_keep_days; also written under report_dir if set. Every
    # report_recheck_s, reports of recent days that late stores have since sent more for are re-issued.
    report_at: str = Field(default="02:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    chain_tz: str = "UTC"
    report_keep_days: int = Field(default=400, ge=1)
    report_dir: str | None = None
    report_tolerance: int = Field(default=0, ge=0)  # units: a counted SKU within this of its book is accurate
    report_recheck_s: float = Field(default=900.0, ge=0)  # 0: never

    @property
    def min_history(self) -> timedelta:
        return timedelta(hours=self.balance_min_history_h)
