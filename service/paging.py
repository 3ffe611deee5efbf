"""The one way every list endpoint pages: ``offset`` and ``limit`` query parameters, checked against the
configured ``max_page_size`` (the schema's maximum is set to the same value by ``service.openapi``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request

from service.deps import SettingsDep
from service.errors import RequestError

DEFAULT_LIMIT = 50
MAX_OFFSET = 1_000_000_000


@dataclass(frozen=True)
class PageParams:
    """Where a page starts and how many items it holds at most."""

    offset: int
    limit: int


async def page_params(
    request: Request,
    settings: SettingsDep,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="items to skip")] = 0,
    limit: Annotated[int, Query(ge=1, description="items on the page at most")] = DEFAULT_LIMIT,
) -> PageParams:
    """Dependency: the page asked for (422 naming ``limit`` above the configured maximum). Without a ``limit``,
    a page holds ``DEFAULT_LIMIT`` items, or ``max_page_size`` where that is smaller."""
    if "limit" not in request.query_params:
        limit = min(limit, settings.max_page_size)
    if limit > settings.max_page_size:
        raise RequestError("limit", f"must be at most {settings.max_page_size}", limit)
    return PageParams(offset, limit)


Page = Annotated[PageParams, Depends(page_params)]
