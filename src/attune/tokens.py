"""Execution tokens (spec §9): what an action process finds in ATTUNE_API_TOKEN.

A token names the one task attempt it was made for (its record key), that attempt's run and the
top-level run of its tree, and when it expires; an HMAC over it, keyed from the deployment's
secret key (ATTUNE_SECRET_KEY), proves a runtime worker of this deployment made it. Workers mint
one just before starting the process; the API checks it. Nothing stores a token: it reaches the
process through its environment only, and the worker masks it in what the action prints.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

PREFIX = "attx"
# The API's answer to a token it cannot verify. A worker that gets it for a token it has just
# minted knows the two do not share a key (engine/claims.py says so once).
REFUSED = "invalid or expired execution token"


@dataclass(frozen=True)
class ExecutionToken:
    key: str  # the attempt's record key: "<workflow id>/<attempt key>"
    root: str  # the top-level run of its tree
    expires: float  # unix time
    # "attempt": an action's (ATTUNE_API_TOKEN); "run": an orchestrator's, for reserving its
    # run's execution ids, which an action's token may not do.
    scope: str = "attempt"

    @property
    def workflow_id(self) -> str:
        return self.key.rsplit("/", 1)[0]


def root_of(workflow_id_or_key: str) -> str:
    """The top-level run of a tree: every nested run's id (and every record key) starts with it
    and a '/'."""
    return workflow_id_or_key.split("/", 1)[0]


def _signing_key(secret_key: bytes) -> bytes:
    return hashlib.sha256(b"attune execution token\0" + secret_key).digest()


def mint(secret_key: bytes, *, key: str, root: str, ttl_seconds: float, scope: str = "attempt") -> str:
    claims = {"k": key, "r": root, "e": round(time.time() + ttl_seconds)}
    if scope != "attempt":
        claims["s"] = scope
    body = json.dumps(claims, separators=(",", ":")).encode()
    encoded = base64.urlsafe_b64encode(body).rstrip(b"=")
    mac = hmac.new(_signing_key(secret_key), encoded, hashlib.sha256).digest()
    return f"{PREFIX}.{encoded.decode()}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def looks_like(token: str) -> bool:
    return token.startswith(PREFIX + ".")


def verify(secret_key: bytes, token: str, now: float | None = None) -> ExecutionToken | None:
    """The token's claims when it is genuine and not expired, else None."""
    try:
        prefix, encoded, mac = token.split(".")
        if prefix != PREFIX:
            return None
        expected = hmac.new(_signing_key(secret_key), encoded.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))):
            return None
        claims = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        parsed = ExecutionToken(key=str(claims["k"]), root=str(claims["r"]), expires=float(claims["e"]),
                                scope=str(claims.get("s", "attempt")))
    except (ValueError, KeyError, TypeError):
        return None
    return parsed if parsed.expires > (now if now is not None else time.time()) else None
