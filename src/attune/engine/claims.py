"""A runtime worker asks the API for the record id of the attempt it is about to start, so the
action finds its execution id in ATTUNE_EXEC_ID (spec §7) and can look itself up.

Without an API (`attune run --direct`, or the API down) the action gets its record key instead
(also in ATTUNE_EXECUTION_KEY): a run never waits on, or fails for, the records."""

from __future__ import annotations

import logging

import httpx

from attune.runtimes.models import ProcessRequest
from attune.secrets import redact

log = logging.getLogger(__name__)
CLAIM_TIMEOUT = httpx.Timeout(3.0, connect=0.5)
_clients: dict[str, httpx.AsyncClient] = {}  # one keep-alive client per API


async def claim_record_id(request: ProcessRequest, token: str) -> int | None:
    client = _clients.get(request.api_url)
    if client is None:
        client = _clients[request.api_url] = httpx.AsyncClient(
            base_url=request.api_url.rstrip("/") + "/api/v1", timeout=CLAIM_TIMEOUT)
    body = {"action_ref": request.action_ref, "timeout_seconds": request.timeout_seconds,
            "parameters": redact(request.parameters, request.secret_names)}
    try:
        response = await client.post("/executions/claim", json=body,
                                      headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        log.debug("no record id for %s: %s", request.execution_id, exc)
        return None
    if response.status_code != 200:
        log.debug("no record id for %s: %s", request.execution_id, response.text[:200])
        return None
    return int(response.json()["data"]["id"])
