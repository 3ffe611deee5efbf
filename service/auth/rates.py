"""Rate limits (the ``limits`` library, a moving window in each process's memory: with several server
processes each counts alone, so the limit in force is up to ``workers`` times the setting)."""

from __future__ import annotations

import math
import time

from fastapi import Request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from service.auth.principal import Principal
from service.config import Settings
from service.errors import TooManyRequestsError


class RateLimits:
    """The limits of one app: ``hit(scope, key, rate)`` counts a request and raises 429 when over."""

    def __init__(self) -> None:
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self._parsed: dict[str, list[RateLimitItem]] = {}

    def hit(self, what: str, key: str, rate: str) -> None:
        """Count one ``what`` for ``key``; ``TooManyRequestsError`` (429, Retry-After) once over ``rate``."""
        items = self._parsed.get(rate)
        if items is None:
            items = self._parsed[rate] = parse_many(rate)
        for item in items:
            if not self.limiter.hit(item, what, key):
                reset = self.limiter.get_window_stats(item, what, key).reset_time
                raise TooManyRequestsError(what, rate, max(1, math.ceil(reset - time.time())))


def limits_of(request: Request) -> RateLimits:
    """The app's rate limits (made by ``create_app``)."""
    return request.app.state.rate_limits


def client_address(request: Request) -> str:
    """The client's address as the server sees it (behind a proxy: run uvicorn with ``--proxy-headers``)."""
    return request.client.host if request.client is not None else "unknown"


def limit_write(request: Request, settings: Settings, principal: Principal) -> None:
    """One write by ``principal``: counted per key or session, and per address when anonymous."""
    key = client_address(request) if principal.role == "anonymous" else f"{principal.via}:{principal.subject}"
    limits_of(request).hit("writes", key, settings.rate_writes)


def limit_sign_in(request: Request, settings: Settings, school_id: str) -> None:
    """One sign-in link request: counted per address and per school."""
    limits_of(request).hit("sign-in link requests from this address", client_address(request), settings.rate_sign_in)
    limits_of(request).hit("sign-in link requests for this school", school_id, settings.rate_sign_in)


def limit_jwt_exchange(request: Request, settings: Settings) -> None:
    """One exchange of a site token for a session: counted per address."""
    what = "sign-ins through the site from this address"
    limits_of(request).hit(what, client_address(request), settings.rate_sign_in)
