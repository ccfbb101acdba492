"""Secret parameters: sealed before they reach Temporal, unsealed only by runtime workers.

Temporal keeps workflow and activity inputs in its history and shows them in the Web UI, so a
secret parameter value (spec §7: never in clear text in the orchestration UI) is replaced by a
sealed token `{"__attune_secret__": "<Fernet token>"}`. Expressions pass it through whole, the
records show "********", and the activity unseals it just before writing the process's input.
Whatever the process prints goes back into Temporal too, so the activity masks the secrets it
unsealed in the result (stdout, stderr, parsed data, error) before returning it.

The key is `ATTUNE_SECRET_KEY` (a Fernet key); without it, `<state_dir>/secret.key` is used and
created on first need, so the embedded stack works with no setup. Every API, CLI and worker
process of one deployment must share the key.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from attune.settings import DEFAULT_STATE_DIR

SEALED = "__attune_secret__"
REDACTED = "********"
MIN_MASKED_LENGTH = 4
log = logging.getLogger(__name__)


class SecretError(Exception):
    pass


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and SEALED in value


def load_key(state_dir: str = DEFAULT_STATE_DIR, *, quiet: bool = False) -> bytes:
    """The deployment's key. Made on first need when none is given, and said so in the log
    unless `quiet` (`attune up`, which makes its stack's key): a standalone worker or API that
    makes its own cannot unseal what another process sealed, and made one silently."""
    env = os.environ.get("ATTUNE_SECRET_KEY")
    if env:
        return env.encode()
    path = Path(state_dir) / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process of the stack made it first
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(Fernet.generate_key())
            if not quiet:
                log.warning("no secret key was given (ATTUNE_SECRET_KEY) and %s did not exist: made a "
                            "new one there. Every API, worker and CLI of one deployment needs the same "
                            "key, or secrets sealed by one cannot be unsealed by another", path.resolve())
    # Cached while the file stays the same (a task with secrets or a token reads the key): a
    # key file replaced (a rotation, a deploy) is read again.
    stat = path.stat()
    seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    cached = _read_keys.get(path)
    if cached is None or cached[0] != seen:
        cached = _read_keys[path] = (seen, path.read_bytes().strip())
    return cached[1]


_read_keys: dict[Path, tuple[tuple[int, int, int], bytes]] = {}


MAKE_KEY = "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"


def key_problem(state_dir: str = DEFAULT_STATE_DIR) -> str | None:
    """Why the deployment's key cannot be used, naming where it comes from; None when it can.
    Checked at start (API, workers): a bad key file let them start and report healthy, then
    failed every run with a secret ("Fernet key must be 32 url-safe base64-encoded bytes", a
    503 that named no file) and every token a worker minted."""
    source = key_source(state_dir)
    try:
        Fernet(load_key(state_dir))
    except OSError as exc:
        return f"secret key {source}: cannot read it ({exc.strerror or exc})"
    except ValueError:
        return (f"secret key {source}: not a Fernet key (32 url-safe base64-encoded bytes). Put the "
                f"deployment's key there (every API and worker must share it), or a new one made "
                f"with `{MAKE_KEY}` (secrets sealed with the old one then cannot be unsealed), or "
                f"set ATTUNE_SECRET_KEY")
    return None


def key_source(state_dir: str = DEFAULT_STATE_DIR) -> str:
    """Where load_key takes the key from, for messages."""
    if os.environ.get("ATTUNE_SECRET_KEY"):
        return "ATTUNE_SECRET_KEY"
    return str((Path(state_dir) / "secret.key").resolve())


def sealed_at(value: Any, where: str) -> str | None:
    """The path of the first sealed value inside `value` (`where` names `value`), or None."""
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        item, path = stack.pop()
        if is_sealed(item):
            return path
        if isinstance(item, dict):
            stack.extend((v, f"{path}.{k}") for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(item))
    return None


def seal_parameters(parameters: dict[str, Any], secret_names: set[str], key: bytes) -> dict[str, Any]:
    fernet = Fernet(key)
    return {
        name: ({SEALED: fernet.encrypt(_encode(value)).decode()}
               if name in secret_names and not is_sealed(value) else value)
        for name, value in parameters.items()
    }


def seal_at(value: dict[str, Any], paths: Iterable[tuple[str, ...]], key: bytes) -> dict[str, Any]:
    """A copy of `value` with the value at each path (("db", "password")) sealed, where present."""
    return _at(value, paths, lambda found: found if is_sealed(found) else
               {SEALED: Fernet(key).encrypt(_encode(found)).decode()})


def redact_at(value: dict[str, Any], paths: Iterable[tuple[str, ...]]) -> dict[str, Any]:
    """A copy of `value` with the value at each path shown as ********, where present."""
    return _at(value, paths, lambda found: REDACTED if found is not None else None)


def _at(value: dict[str, Any], paths: Iterable[tuple[str, ...]], change: Any) -> dict[str, Any]:
    out = dict(value)
    for path in paths:
        parent = out
        for step in path[:-1]:
            inner = parent.get(step)
            if not isinstance(inner, dict):
                break
            parent[step] = parent = dict(inner)  # copies along the path: the input is kept as is
        else:
            if path and path[-1] in parent:
                parent[path[-1]] = change(parent[path[-1]])
    return out


def unseal(value: Any, key: bytes, where: str = "parameters", found: list[Any] | None = None) -> Any:
    """Replace every sealed token in `value` (recursively) by the secret it holds; each secret
    is also appended to `found`, for `mask`."""
    if is_sealed(value):
        try:
            secret = _decode(Fernet(key).decrypt(value[SEALED].encode()))
        except (InvalidToken, ValueError):
            raise SecretError(
                f"cannot unseal the secret in {where}: this worker's ATTUNE_SECRET_KEY differs "
                "from the one the execution was submitted with") from None
        if found is not None:
            found.append(secret)
        return secret
    if isinstance(value, dict):
        return {k: unseal(v, key, f"{where}.{k}", found) for k, v in value.items()}
    if isinstance(value, list):
        return [unseal(v, key, f"{where}[{i}]", found) for i, v in enumerate(value)]
    return value


def mask(value: Any, secrets: list[Any]) -> Any:
    """Replace every secret (text of at least MIN_MASKED_LENGTH characters; shorter ones would
    mask ordinary words) wherever it appears in the strings of `value`, recursively, by
    ********; a number in `value` (parsed output) that reads as such a secret (a secret PIN
    123456 printed as JSON and parsed back) is ******** too. An action that prints a secret it
    was given must not leak it into results. Booleans are never masked: a secret `true` is one
    bit, and masking every `true` would hide nothing but the rest of the output."""
    texts = sorted({t for t in _texts(secrets) if len(t) >= MIN_MASKED_LENGTH}, key=len, reverse=True)
    return _mask(value, texts) if texts else value


def mask_cut(text: str | None, secrets: list[Any], *, at_start: bool) -> str | None:
    """A stream cut at its cap: the part of a secret left at the cut (its start at the end of
    kept stdout, its end at the start of kept stderr) is masked too; whole ones are `mask`'s."""
    if not text:
        return text
    for secret in sorted({t for t in _texts(secrets) if len(t) > MIN_MASKED_LENGTH}, key=len, reverse=True):
        for kept in range(len(secret) - 1, MIN_MASKED_LENGTH - 1, -1):
            if at_start and text.startswith(secret[-kept:]):
                return REDACTED + text[kept:]
            if not at_start and text.endswith(secret[:kept]):
                return text[:-kept] + REDACTED
    return text


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [_number_text(value)]  # a PIN or an account number; under MIN_MASKED_LENGTH digits stays
    return []  # booleans would hit ordinary output


def _mask(value: Any, texts: list[str]) -> Any:
    if isinstance(value, str):
        for text in texts:
            value = value.replace(text, REDACTED)
        return value
    if isinstance(value, dict):
        return {_mask(k, texts): _mask(v, texts) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, texts) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and _number_text(value) in texts:
        return REDACTED
    return value


def _number_text(value: float) -> str:
    """A number as a secret given as a number or as digits reads: 123456.0 as "123456"."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return str(value)


def redact(parameters: dict[str, Any] | None, secret_names: Iterable[str] = ()) -> dict[str, Any]:
    """Parameters as records, logs and the UI may show them (spec §7): the value of every
    secret parameter, and every sealed value wherever it ended up, is ********."""
    names = set(secret_names)
    return {k: (REDACTED if k in names and v is not None else redact_sealed(v))
            for k, v in (parameters or {}).items()}


def redact_sealed(value: Any) -> Any:
    """Sealed values as ********, wherever they are in `value`."""
    if is_sealed(value):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact_sealed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_sealed(v) for v in value]
    return value


def _encode(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


def _decode(raw: bytes) -> Any:
    import json

    return json.loads(raw)
