"""Workers ask the API for execution ids, so an action finds its own in ATTUNE_EXEC_ID (spec §7)
and can look itself up: a run's orchestrator reserves them in blocks for the attempts it will
dispatch (`reserve_record_ids`), and a runtime worker whose attempt came without one claims it
just before the start (`claim_record_id`).

Without an API (`attune run --direct`, or the API down) the action's ATTUNE_EXEC_ID is empty
(no execution id exists; its attempt key is in ATTUNE_EXECUTION_KEY, as always): a run never
waits on, or fails for, the records. A worker that could not get an id says so once per API
address at warning level (until the API answers again), and once the API could not be reached,
the next tasks do not ask it again for a while (RETRY_AFTER).

A claim lies on its task's critical path, so these speak HTTP/1.1 with h11 over kept-alive
asyncio connections rather than through httpx: measured on the 2-core bench machine, an httpx
POST costs the worker 2.2 ms of CPU and 2.4 ms of wall time, this 0.3 and 0.6 ms.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import h11

from attune.runtimes.models import ProcessRequest
from attune.secrets import redact
from attune.tokens import REFUSED

log = logging.getLogger(__name__)
CONNECT_TIMEOUT = 0.5  # seconds
CLAIM_TIMEOUT = 3.0  # seconds, the whole exchange
MAX_IDLE = 8  # kept-alive connections per API; more run at once are opened and closed
MAX_ANSWER = 64 * 1024  # a claim's answer is a few dozen bytes
# An API that could not be reached (refused, timed out, closed on us) is not asked again for
# this long, doubling while it stays so, up to the second figure: without a pause every task
# waited for the same failure (up to CONNECT_TIMEOUT each where the host drops packets). Tasks
# meanwhile get their record key, as with no API; its first answer ends the pause.
RETRY_AFTER = (0.5, 2.0)  # seconds: short, since tasks meanwhile lose their ids


class ClaimError(Exception):
    pass


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h11: h11.Connection

    def close(self) -> None:
        self.writer.close()


class _Api:
    """Kept-alive connections to one API, at most MAX_IDLE idle at a time."""

    def __init__(self, base_url: str) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ClaimError(f"not an http(s) URL: {base_url!r}")
        self.host, self.tls = url.hostname, url.scheme == "https"
        self.port = url.port or (443 if self.tls else 80)
        self.authority = url.netloc.rsplit("@", 1)[-1]
        self.prefix = url.path.rstrip("/") + "/api/v1"
        self.idle: list[_Connection] = []
        self.pause = 0.0  # seconds not to ask after the last failure to reach it (RETRY_AFTER)
        self.resting_until = 0.0  # time.monotonic()

    def resting(self) -> bool:
        return time.monotonic() < self.resting_until

    def unreachable(self) -> None:
        self.pause = min(max(self.pause * 2, RETRY_AFTER[0]), RETRY_AFTER[1])
        self.resting_until = time.monotonic() + self.pause

    def reached(self) -> None:
        self.pause = self.resting_until = 0.0

    async def post(self, path: str, body: dict[str, Any], token: str) -> tuple[int, bytes]:
        data = json.dumps(body).encode()
        request = h11.Request(method="POST", target=self.prefix + path, headers=[
            ("Host", self.authority), ("Authorization", f"Bearer {token}"),
            ("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        # A kept-alive connection the API closed meanwhile fails at once: then try the next one,
        # and finally a new one (a claim is idempotent: the same key gets the same id).
        while True:
            fresh = not self.idle
            conn = await self._open() if fresh else self.idle.pop()
            try:
                return await self._exchange(conn, request, data)
            except (OSError, h11.ProtocolError, asyncio.IncompleteReadError):
                conn.close()
                if fresh:
                    raise
            except BaseException:
                conn.close()
                raise

    async def _open(self) -> _Connection:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            self.host, self.port, ssl=ssl.create_default_context() if self.tls else None),
            CONNECT_TIMEOUT)
        return _Connection(reader, writer, h11.Connection(h11.CLIENT))

    async def _exchange(self, conn: _Connection, request: h11.Request, data: bytes) -> tuple[int, bytes]:
        conn.writer.write(conn.h11.send(request) + conn.h11.send(h11.Data(data=data))
                          + conn.h11.send(h11.EndOfMessage()))
        status, answer = 0, bytearray()
        while True:
            event = conn.h11.next_event()
            if event is h11.NEED_DATA:
                chunk = await conn.reader.read(65536)
                if not chunk:
                    raise asyncio.IncompleteReadError(bytes(answer), None)
                conn.h11.receive_data(chunk)
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                answer += event.data
                if len(answer) > MAX_ANSWER:
                    raise ClaimError(f"the answer exceeds {MAX_ANSWER} bytes")
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise asyncio.IncompleteReadError(bytes(answer), None)
        self._release(conn)
        return status, bytes(answer)

    def _release(self, conn: _Connection) -> None:
        if conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE \
                and len(self.idle) < MAX_IDLE:
            conn.h11.start_next_cycle()
            self.idle.append(conn)
        else:
            conn.close()


_apis: dict[str, _Api] = {}
_refusing: set[str] = set()  # APIs already reported as refusing our tokens
_failing: set[str] = set()  # APIs already reported as giving no ids, until one answers


def _refused(api_url: str) -> None:
    """A token minted a moment ago was refused: the API verifies with another key (or another
    clock). Every task then pays a round trip for nothing and actions lose their execution ids,
    which a debug line per task hid; say it once, as the misconfiguration it is."""
    if api_url not in _refusing:
        _refusing.add(api_url)
        log.warning("the API at %s refuses the execution tokens this worker mints (%s): the API "
                    "and every worker must share one secret key (ATTUNE_SECRET_KEY, or one state "
                    "directory) and agree on the time. Until then actions find ATTUNE_EXEC_ID empty",
                    api_url, REFUSED)


def _failed(api_url: str, path: str, exc: Exception) -> None:
    """No id from the API at `api_url`: said once (a debug line per task hid that an API
    started with --port and no ATTUNE_API_URL sent every worker to :8000), then again only
    after it answered meanwhile. The address is the submitting API's ATTUNE_API_URL."""
    if api_url in _failing or api_url in _refusing:
        return
    _failing.add(api_url)
    log.warning("no execution id from the API at %s (%s: %s): until it answers, actions find "
                "ATTUNE_EXEC_ID empty (ATTUNE_EXECUTION_KEY names the attempt). That address is "
                "the ATTUNE_API_URL of the API that submitted the run: set it there to where "
                "workers reach that API (e.g. http://api:8000), or check that the API is up",
                api_url, path, str(exc) or type(exc).__name__)


async def claim_record_id(request: ProcessRequest, token: str) -> int | None:
    body = {"action_ref": request.action_ref, "timeout_seconds": request.timeout_seconds,
            "parameters": redact(request.parameters, request.secret_names)}
    data = await _ask(request.api_url, "/executions/claim", body, token, request.execution_id)
    try:
        return int(data["id"]) if data is not None else None
    except (KeyError, TypeError, ValueError):
        return None


async def reserve_record_ids(api_url: str, token: str, count: int, run: str) -> list[int]:
    """`count` execution ids for the task attempts of run `run` (see records/reserved_ids.py);
    none when the API cannot give them (the run's tasks then claim theirs)."""
    data = await _ask(api_url, "/executions/reserve", {"count": count}, token, run)
    try:
        ids = [int(i) for i in data["ids"]] if data is not None else []
    except (KeyError, TypeError, ValueError):
        return []
    return ids if len(ids) == count else []


async def _ask(api_url: str, path: str, body: dict[str, Any], token: str, who: str) -> Any:
    """The `data` of the API's answer, or None (logged) when it has none to give."""
    try:
        api = _apis.get(api_url) or _apis.setdefault(api_url, _Api(api_url))
        if api.resting():
            log.debug("no %s for %s: the API at %s was unreachable moments ago", path, who, api_url)
            return None
        try:
            status, answer = await asyncio.wait_for(api.post(path, body, token), CLAIM_TIMEOUT)
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            api.unreachable()
            raise
        api.reached()
        if status != 200:
            text = answer[:200].decode(errors="replace")
            if status == 401 and REFUSED in text:
                _refused(api_url)
            # 409: the run's own record is not written yet (the next task asks again); 401: the
            # run ended, or the key differs (said by _refused): no misconfiguration of the address
            raise (_Quiet if status in (401, 409) else ClaimError)(f"{status}: {text}")
        data = json.loads(answer)["data"]
        _failing.discard(api_url)
        return data
    except _Quiet as exc:
        log.debug("no answer to %s for %s: %s", path, who, exc)
    except (ClaimError, OSError, TimeoutError, h11.ProtocolError, asyncio.IncompleteReadError,
            ValueError, KeyError, TypeError) as exc:
        log.debug("no answer to %s for %s: %s", path, who, exc)
        _failed(api_url, path, exc)
    return None


class _Quiet(ClaimError):
    """No id, for a reason that is not the API's address (see _ask)."""
