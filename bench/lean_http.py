"""A lean HTTP/1.1 JSON client for the benchmark's REST load (rest200).

The load generator shares the two cores with the stack it measures. With httpx, 200 clients
doing a POST and a long-polling GET each cost the driver 1.9 s of CPU against 0.4 s for the
same 200 runs started with Temporal's (Rust) client: time taken from the stack under test,
not spent by it. One keep-alive connection per client over asyncio streams does the same
requests for a fraction of that. It speaks only what the API answers with (Content-Length or
chunked JSON bodies) and raises on anything else.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlencode, urlsplit


class LeanHttpError(RuntimeError):
    pass


class Connection:
    """One keep-alive connection to `base` (http://host:port), reconnecting when closed."""

    def __init__(self, base: str, timeout: float = 120) -> None:
        url = urlsplit(base)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the connection now (it opens with the first request otherwise)."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._reader = self._writer = None

    async def request(self, method: str, path: str, *, json_body: Any = None,
                      params: dict[str, Any] | None = None) -> tuple[int, Any]:
        """(status, decoded JSON body or None)."""
        return await asyncio.wait_for(self._request(method, path, json_body, params), self.timeout)

    async def _request(self, method: str, path: str, json_body: Any,
                       params: dict[str, Any] | None) -> tuple[int, Any]:
        if params:
            path = f"{path}?{urlencode(params)}"
        body = b"" if json_body is None else json.dumps(json_body).encode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Length: {len(body)}\r\n")
        if json_body is not None:
            head += "Content-Type: application/json\r\n"
        await self.connect()
        assert self._reader is not None and self._writer is not None
        self._writer.write(head.encode() + b"\r\n" + body)
        status_line = await self._reader.readline()
        if not status_line:
            raise LeanHttpError(f"{method} {path}: the connection closed before an answer")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            data = await self._reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            data = await self._chunked()
        else:
            raise LeanHttpError(f"{method} {path}: an answer with neither length nor chunks")
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, json.loads(data) if data else None

    async def _chunked(self) -> bytes:
        assert self._reader is not None
        data = b""
        while size := int((await self._reader.readline()).split(b";")[0], 16):
            data += await self._reader.readexactly(size)
            await self._reader.readexactly(2)
        await self._reader.readline()  # the blank line after the last chunk (no trailers sent)
        return data
