"""The claim of an attempt's record id (attune.engine.claims): kept-alive connections, an API that
closed one meanwhile, refusals and an API that is not there. The end-to-end proof (the action sees
its record id in ATTUNE_EXEC_ID) is tests/service/test_run_control.py."""

from __future__ import annotations

import asyncio
import json

import pytest

from attune.engine import claims
from attune.runtimes import ProcessRequest


class FakeApi:
    """A real HTTP/1.1 server on a free port: answers each request with `answer`, and closes
    a connection after `close_after` requests on it (as an API's keep-alive timeout does)."""

    def __init__(self, answer: bytes, status: int = 200, close_after: int = 1000) -> None:
        self.answer, self.status, self.close_after = answer, status, close_after
        self.connections = 0
        self.bodies: list[dict] = []
        self.headers: list[bytes] = []

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *_: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            for _ in range(self.close_after):
                head = await reader.readuntil(b"\r\n\r\n")
                self.headers.append(head)
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                self.bodies.append(json.loads(await reader.readexactly(length)))
                writer.write(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n" % (self.status, len(self.answer))
                             + self.answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def request(api_url: str) -> ProcessRequest:
    return ProcessRequest(execution_id="wf/t.1#0", action_ref="p.a", pack_ref="p", pack_dir="/tmp",
                          runner="shell", entry_point="a.sh", parameters={"n": 1, "pw": "s3cret"},
                          secret_names=["pw"], timeout_seconds=60, api_url=api_url)


@pytest.fixture(autouse=True)
def _fresh():
    claims._apis.clear()
    claims._refusing.clear()
    claims._failing.clear()
    yield
    claims._apis.clear()
    claims._refusing.clear()
    claims._failing.clear()


async def test_claims_reuse_one_connection_and_send_what_the_api_needs():
    api = FakeApi(b'{"data": {"id": 42}}')
    async with api as url:
        ids = [await claims.claim_record_id(request(url), "tok") for _ in range(5)]
    assert ids == [42] * 5 and api.connections == 1
    assert api.bodies[0] == {"action_ref": "p.a", "timeout_seconds": 60,
                             "parameters": {"n": 1, "pw": "********"}}  # secrets never leave
    assert api.headers[0].startswith(b"POST /api/v1/executions/claim HTTP/1.1\r\n")
    assert b"Authorization: Bearer tok" in api.headers[0]


async def test_a_connection_the_api_closed_is_replaced_without_losing_the_claim():
    api = FakeApi(b'{"data": {"id": 7}}', close_after=1)
    async with api as url:
        for _ in range(3):
            assert await claims.claim_record_id(request(url), "tok") == 7
            await asyncio.sleep(0.05)  # the API's close reaches us before the next claim
    assert api.connections == 3


@pytest.mark.parametrize(("status", "answer"), [(409, b'{"error": "no record yet"}'), (200, b"not json"),
                                                (200, b'{"data": {}}'), (200, b"x" * 70_000)])
async def test_a_refused_or_odd_answer_gives_no_id(status, answer):
    async with FakeApi(answer, status=status) as url:
        assert await claims.claim_record_id(request(url), "tok") is None


async def test_an_api_that_refuses_our_tokens_is_reported_once_as_a_misconfiguration(caplog):
    """A key the API does not share (another state directory, no common ATTUNE_SECRET_KEY):
    every claim and reservation is refused. Each still falls back to no id, and the worker's
    log says why once, naming the fix; a token refused because its run ended is no such thing."""
    from attune.tokens import REFUSED

    refused = json.dumps({"error": {"code": "unauthorized", "message": REFUSED}}).encode()
    async with FakeApi(refused, status=401) as url:
        assert await claims.claim_record_id(request(url), "tok") is None
        assert await claims.reserve_record_ids(url, "tok", 100, "wf") == []
        assert await claims.claim_record_id(request(url), "tok") is None
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and f"the API at {url} refuses the execution tokens" in warnings[0]
    assert "ATTUNE_SECRET_KEY" in warnings[0]
    caplog.clear()
    ended = json.dumps({"error": {"message": "execution token expired: its execution has ended"}}).encode()
    async with FakeApi(ended, status=401) as url:
        assert await claims.claim_record_id(request(url), "tok") is None
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


async def test_no_api_gives_no_id_quickly():
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await claims.claim_record_id(request(f"http://127.0.0.1:{port}"), "tok") is None
    assert await claims.claim_record_id(request("not a url"), "tok") is None
    assert loop.time() - started < claims.CLAIM_TIMEOUT


async def test_an_api_that_never_answers_times_out(monkeypatch):
    monkeypatch.setattr(claims, "CLAIM_TIMEOUT", 0.3)

    async def silent(reader, writer):
        await reader.read()  # reads, never answers

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        assert await claims.claim_record_id(request(url), "tok") is None
    finally:
        server.close()


async def test_an_api_that_could_not_be_reached_is_not_asked_again_at_once(monkeypatch):
    """One task finds the API unreachable; the next ones do not wait for the same failure (a
    host that drops packets cost each task the whole connect timeout), until the pause is over.
    Then its first answer ends the pause."""
    monkeypatch.setattr(claims, "RETRY_AFTER", (0.2, 0.4))
    api = FakeApi(b'{"data": {"id": 5}}', close_after=0)  # closes every connection unanswered
    async with api as url:
        assert await claims.claim_record_id(request(url), "tok") is None
        assert api.connections == 1
        api.close_after = 1000  # back, but the worker does not know yet
        assert await claims.claim_record_id(request(url), "tok") is None
        assert await claims.reserve_record_ids(url, "tok", 3, "wf") == []
        assert api.connections == 1  # neither asked
        await asyncio.sleep(0.25)
        assert await claims.claim_record_id(request(url), "tok") == 5
        assert api.connections == 2
        assert claims._apis[url].pause == 0.0


async def test_the_pause_grows_while_the_api_stays_unreachable(monkeypatch):
    monkeypatch.setattr(claims, "RETRY_AFTER", (0.05, 0.15))
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()
    await server.wait_closed()
    pauses = []
    for _ in range(4):
        await asyncio.sleep(claims._apis[url].pause + 0.01 if url in claims._apis else 0)
        assert await claims.claim_record_id(request(url), "tok") is None
        pauses.append(claims._apis[url].pause)
    assert pauses == [0.05, 0.1, 0.15, 0.15]


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and r.name == claims.log.name]


async def test_an_api_that_gives_no_ids_is_said_once_per_address_at_warning(caplog, monkeypatch):
    """`attune api --port 7557` without ATTUNE_API_URL sent every worker to :8000: actions got
    no execution id, and only a debug line per task said so. Now one warning per address, naming
    where the address comes from; said again only after that API answered meanwhile."""
    monkeypatch.setattr(claims, "RETRY_AFTER", (0.01, 0.01))
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    gone = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()
    await server.wait_closed()
    for _ in range(3):
        assert await claims.claim_record_id(request(gone), "tok") is None
        assert await claims.reserve_record_ids(gone, "tok", 5, "wf") == []
        await asyncio.sleep(0.02)
    [said] = _warnings(caplog)
    assert f"no execution id from the API at {gone}" in said and "ATTUNE_API_URL" in said, said
    assert "ATTUNE_EXEC_ID empty" in said
    async with FakeApi(b'{"error": "not the API"}', status=404) as other:  # another server there
        assert await claims.claim_record_id(request(other), "tok") is None
        assert await claims.claim_record_id(request(other), "tok") is None
    assert len(_warnings(caplog)) == 2 and other in _warnings(caplog)[1]
    api = FakeApi(b'{"data": {"id": 3}}')
    async with api as url:
        assert await claims.claim_record_id(request(url), "tok") == 3
        api.status, api.answer = 503, b'{"error": "records database unreachable"}'
        assert await claims.claim_record_id(request(url), "tok") is None
        assert await claims.claim_record_id(request(url), "tok") is None
    assert len(_warnings(caplog)) == 3 and "503" in _warnings(caplog)[2]


async def test_a_claim_a_moment_too_early_is_no_warning(caplog):
    """409: the run's own record is not written yet; the next task asks again."""
    async with FakeApi(b'{"error": "no record yet"}', status=409) as url:
        assert await claims.claim_record_id(request(url), "tok") is None
    assert not _warnings(caplog)
