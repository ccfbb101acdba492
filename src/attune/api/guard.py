"""What keeps a web page the operator visits from using the API behind their back.

With no API token set (the default of `attune up`), any page open in the operator's browser could
otherwise POST to http://127.0.0.1:8000 (a form or `fetch` with a "simple" content type needs no
CORS preflight: cancel, re-run, ...), point its own host name at 127.0.0.1 (DNS rebinding) to read
the answers too, or frame the UI to trick clicks. As mature development servers do:

- an unsafe method (POST, PUT, PATCH, DELETE) carrying an `Origin` other than the request's own
  host is refused (403): browsers send `Origin` on every cross-origin request of these methods;
  the CLI, curl and scripts send none and are not affected;
- when the API listens on a loopback address, a request whose `Host` is not a loopback name or
  address is refused (403): a rebound name arrives with the attacker's host name;
- every answer says it may not be framed (X-Frame-Options, CSP frame-ancestors).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from attune.api.errors import _envelope

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FRAME_HEADERS = [(b"x-frame-options", b"DENY")]
FRAME_ANCESTORS = b"frame-ancestors 'none'"
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def is_loopback(host: str) -> bool:
    """Whether a host name or address (no port; IPv6 with or without brackets) is loopback:
    127.0.0.0/8, ::1, `localhost` and `*.localhost` (which browsers resolve to loopback
    themselves, never through DNS)."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def split_host(value: str) -> tuple[str, int | None]:
    """`Host` header -> (host, port or None). None host part for a malformed value."""
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:8000
        end = value.find("]")
        if end < 0:
            return "", None
        host, rest = value[1:end], value[end + 1:]
        port = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        host, port = value.split(":")
    else:
        host, port = value, ""
    return host, int(port) if port.isdigit() else None


def _same_origin(origin: str, hosts: list[str]) -> bool:
    """Whether `Origin` names one of `hosts` (the Host header, and X-Forwarded-Host, which a
    browser page cannot set on a cross-origin request without a preflight this API refuses).
    A Host without a port matches the origin's scheme's default port (a proxy in front)."""
    try:
        parts = urlsplit(origin)
        origin_host = (parts.hostname or "").rstrip(".")
        origin_port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return False
    if not origin_host or parts.scheme not in _DEFAULT_PORTS:
        return False  # `null` (a sandboxed frame, a file: page) or junk: not this UI
    for value in hosts:
        host, port = split_host(value)
        if host.rstrip(".") == origin_host and (port or _DEFAULT_PORTS.get(parts.scheme)) == origin_port:
            return True
    return False


class BrowserGuard:
    """ASGI middleware: the Origin and Host checks and the framing headers (module doc)."""

    def __init__(self, app: ASGIApp, *, loopback_only: bool) -> None:
        self.app, self.loopback_only = app, loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, str] = {}
        for name, value in scope.get("headers", []):
            headers.setdefault(name, value.decode("latin-1"))
        host = headers.get(b"host")
        refusal: tuple[str, str, str] | None = None  # (field, why, message)
        if self.loopback_only and host is not None and not is_loopback(split_host(host)[0]):
            refusal = ("host", "not a loopback name or address",
                       f"Host {host!r} is not a loopback name: this API listens on a loopback "
                       "address and answers only requests for 127.0.0.1, localhost or [::1] (a "
                       "page may point its own name there: DNS rebinding); serve it on another "
                       "address (ATTUNE_API_HOST) to reach it by another name")
        elif scope["method"] in UNSAFE_METHODS and b"origin" in headers:
            origin = headers[b"origin"]
            hosts = [h for h in (host, headers.get(b"x-forwarded-host", "").split(",")[0].strip()) if h]
            if not _same_origin(origin, hosts):
                refusal = ("origin", "not this API's own origin",
                           f"cross-origin request refused: Origin {origin!r} is not this API's own "
                           f"({host or 'no Host'}); a web page elsewhere cannot "
                           f"{scope['method']} here. Scripts and the CLI send no Origin header")
        if refusal is not None:
            field, why, message = refusal
            response = _envelope(403, "forbidden", message, [{"path": field, "message": why}])
            await response(scope, receive, self._framed(send))
            return
        await self.app(scope, receive, self._framed(send))

    @staticmethod
    def _framed(send: Send) -> Send:
        async def framed(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                names = {name.lower() for name, _ in raw}
                if b"x-frame-options" not in names:
                    raw.extend(FRAME_HEADERS)
                for i, (name, value) in enumerate(raw):
                    if name.lower() == b"content-security-policy":
                        if b"frame-ancestors" not in value:
                            raw[i] = (name, value.rstrip(b"; ") + b"; " + FRAME_ANCESTORS)
                        break
                else:
                    raw.append((b"content-security-policy", FRAME_ANCESTORS))
                message = {**message, "headers": raw}
            await send(message)
        return framed
