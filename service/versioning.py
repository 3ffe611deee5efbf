"""The versioned API prefix (``/v1``), and the unversioned paths of before, which still answer.

Every API route lives under ``API_PREFIX``. A request to one of the old unversioned paths (``/schools/...``)
is routed to its ``/v1`` twin by ``LegacyPaths`` and answered with a ``Deprecation`` header and a ``Link`` to
the successor; the old paths are not in the OpenAPI schema. The probes ``/health`` and ``/ready`` stay
at the root for load balancers, without deprecation.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_PREFIX = "/v1"
PROBES = frozenset({"health", "ready"})
DEPRECATED_SINCE = "@1795824000"  # RFC 9745 date: 2026-11-28, when /v1 arrived


class LegacyPaths:
    """ASGI middleware: ``/<segment>/...`` for a known API segment is served as ``/v1/<segment>/...``."""

    def __init__(self, app: ASGIApp, segments: Iterable[str]) -> None:
        self.app = app
        self.segments = frozenset(segments)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        first = path.split("/", 2)[1] if path.count("/") >= 1 else ""
        if first not in self.segments:
            await self.app(scope, receive, send)
            return
        scope = {**scope, "path": API_PREFIX + path}
        raw = scope.get("raw_path")
        successor = API_PREFIX.encode() + (raw if raw else path.encode("utf-8"))
        if raw:
            scope["raw_path"] = successor
        if first in PROBES:
            await self.app(scope, receive, send)
            return

        async def deprecated_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"deprecation", DEPRECATED_SINCE.encode()))
                headers.append((b"link", b"<" + successor + b'>; rel="successor-version"'))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, deprecated_send)


def api_segments(paths: Iterable[str]) -> set[str]:
    """The first segments of the API's paths (``/v1/schools/{id}`` -> ``schools``)."""
    return {p.removeprefix(API_PREFIX).split("/")[1] for p in paths if p.startswith(API_PREFIX + "/")}
