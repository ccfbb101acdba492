"""engine_trouble: every way of failing to talk to Temporal, said as what, where and what to do.

Connection failures come from real connects (a closed port, a name that does not resolve, TLS to
a server that speaks none); a server's own problems are the RPC errors it answers with, built as
the SDK builds them (a Temporal whose storage fails cannot be had in a test)."""

from __future__ import annotations

import asyncio
import socket

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from attune.contract import EngineError, EngineUnavailable
from attune.engine.client import EngineClient, engine_trouble
from attune.engine.server import free_port

NEXT = "start it (attune up) or check ATTUNE_TEMPORAL_ADDRESS"


async def test_a_closed_port_is_connection_refused() -> None:
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(EngineUnavailable) as caught:
        await EngineClient.connect(address)
    assert str(caught.value) == f"Temporal at {address} is not reachable (connection refused): {NEXT}"
    assert "tonic" in str(caught.value.__cause__)  # the raw text is kept for the log


async def test_a_name_that_does_not_resolve() -> None:
    with pytest.raises(EngineUnavailable) as caught:
        await EngineClient.connect("no-such-host.invalid:7233")
    assert str(caught.value) == (f"Temporal at no-such-host.invalid:7233 is not reachable "
                                 f"(name not resolved): {NEXT}")


async def test_tls_to_a_server_without_it() -> None:
    with socket.socket() as listener:  # answers a TLS hello in plain HTTP
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        address = f"127.0.0.1:{listener.getsockname()[1]}"

        async def plain() -> None:
            loop = asyncio.get_running_loop()
            conn, _ = await loop.sock_accept(listener)
            with conn:
                await loop.sock_recv(conn, 4096)
                await loop.sock_sendall(conn, b"HTTP/1.1 400 Bad Request\r\n\r\n")

        server = asyncio.ensure_future(plain())
        with pytest.raises(RuntimeError) as caught:
            await Client.connect(address, tls=True)
        await server
    assert str(engine_trouble(caught.value, address)) == (
        f"Temporal at {address} is not reachable (TLS handshake failed): {NEXT}")


def test_no_answer_in_time_and_a_connection_lost_later() -> None:
    assert str(engine_trouble(TimeoutError(), "t:7233")) == f"Temporal at t:7233 is not reachable (timed out): {NEXT}"
    lost = RPCError("tcp connect error", RPCStatusCode.UNAVAILABLE, b"")  # after a connection was made
    assert isinstance(engine_trouble(lost, "t:7233"), EngineUnavailable)


@pytest.mark.parametrize(("status", "message"), [
    (RPCStatusCode.UNAVAILABLE, "shard status unknown"),
    (RPCStatusCode.INTERNAL, "GetWorkflowExecution operation failed. Error: database or disk is full"),
])
def test_a_server_with_a_problem_of_its_own_says_so_and_where_to_look(status, message) -> None:
    trouble = engine_trouble(RPCError(message, status, b""), "t:7233", "wf-1")
    assert type(trouble) is EngineError and not isinstance(trouble, EngineUnavailable)
    assert str(trouble) == (f"the Temporal server at t:7233 reported an internal problem ({message}): "
                            "this is not a problem of the request; see the server's log (with attune "
                            "up: logs/temporal.log in its state directory)")


def test_what_is_not_temporal_is_not_called_unreachable() -> None:
    assert str(engine_trouble(OSError(28, "No space left on device"), "t:7233")) == "[Errno 28] No space left on device"
    refused = RPCError("Namespace nope is not found.", RPCStatusCode.NOT_FOUND, b"")
    assert str(engine_trouble(refused, "t:7233", "wf-1")) == (
        "the Temporal server at t:7233 refused the request for wf-1: Namespace nope is not found.")
