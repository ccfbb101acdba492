"""Configuration: flags (passed in by the CLI) over `ATTUNE_*` environment over defaults.

Each default is defined once, here; code that takes one of these values as an argument
defaults to the constant below rather than repeating it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_STATE_DIR = ".attune"
DEFAULT_QUEUE_PREFIX = "attune"
DEFAULT_API_URL = "http://127.0.0.1:8000"
DEFAULT_TEMPORAL_ADDRESS = "127.0.0.1:7233"
DEFAULT_MAX_NESTING_DEPTH = 20  # levels of nested workflows below a submitted one
# History events after which a workflow run goes on in a fresh run (continue-as-new): small
# enough that replaying a run (a worker restart, a query of a closed run) stays quick.
DEFAULT_CONTINUE_AS_NEW_AFTER = 10_000
ORCHESTRATOR = "orchestrator"  # the worker role that runs workflow code (and its queue's name)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATTUNE_", env_ignore_empty=True, extra="ignore")

    state_dir: str = DEFAULT_STATE_DIR
    database_url: str | None = None  # None = SQLite under state_dir
    temporal_address: str = DEFAULT_TEMPORAL_ADDRESS
    temporal_namespace: str = "default"
    temporal_ui_port: int = Field(8233, ge=1, le=65535)
    temporal_ui_url: str | None = None  # None = http://<temporal host>:<temporal_ui_port>
    api_url: str = DEFAULT_API_URL
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=1, le=65535)
    api_token: str | None = None
    # Seconds between records-mirror polls of running workflows (0 busy-spun an idle API).
    mirror_interval: float = Field(0.25, ge=0.01, le=3600)
    packs_dir: str = "packs"
    queue_prefix: str = DEFAULT_QUEUE_PREFIX
    # Fernet key sealing secret parameters (attune.secrets reads ATTUNE_SECRET_KEY, else
    # <state_dir>/secret.key); listed here so it is a documented setting.
    secret_key: str | None = None
    # Run the orchestrator's workflow code in Temporal's sandbox (slower; see engine/worker.py).
    workflow_sandbox: bool = False
    # How deep nested workflows may go; a deeper one fails its task with a message naming this.
    max_nesting_depth: int = Field(DEFAULT_MAX_NESTING_DEPTH, ge=0, le=1000)
    # A workflow whose Temporal history passes this many events continues as new (no history
    # ceiling for long loops); lower only to see it happen. Below Temporal's own limit (51,200
    # events, when it terminates a run) with room for the tasks a run holds until it can go on.
    continue_as_new_after: int = Field(DEFAULT_CONTINUE_AS_NEW_AFTER, ge=50, le=40_000)
    # Request limits of the API: a submission's parameters (as JSON), and any request body.
    max_parameters_bytes: int = Field(1024 * 1024, ge=1024, le=1024**3)
    max_request_bytes: int = Field(16 * 1024 * 1024, ge=1024, le=1024**3)
    # Where payloads too large for Temporal's history are kept (engine/blobs.py); every API,
    # orchestrator and worker of a deployment must share it. None: <state_dir>/blobs.
    blob_dir: str | None = None
    # /health reports the disk as a problem (503) when the records database's, the blobs' or the
    # state directory's filesystem has less than this many MiB free: writes there fail soon.
    min_free_disk_mib: int = Field(64, ge=0, le=1024**2)
    # Processes started ahead of need per runtime and environment (runtimes/pool.py, which reads
    # ATTUNE_PROCESS_POOL itself, as a worker's actions do not see Settings): None = min(the
    # worker's --concurrency, 4); 0 = off (every action process starts when its task comes).
    process_pool: int | None = Field(None, ge=0, le=64)
    # Names of the worker's environment variables its actions also get (commas or spaces),
    # e.g. "HTTPS_PROXY NO_PROXY SSL_CERT_FILE"; runtimes/isolation.py reads ATTUNE_ACTION_ENV
    # itself, like process_pool. None: only the documented environment. ATTUNE_* names never.
    action_env: str | None = None
    # `host:port` where a worker serves its Temporal SDK metrics for Prometheus (`/metrics`:
    # task slots, poll and schedule-to-start latencies, sticky cache hits and misses). None: off.
    metrics_bind: str | None = None
    # What the API and the workers log (debug, info, warning, error; see attune/logs.py). At
    # debug the API also logs every request it answers.
    log_level: str = "info"

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        from attune.logs import LEVELS

        if value.lower() not in LEVELS:
            raise ValueError(f"must be one of {', '.join(LEVELS)}, not {value!r}")
        return value.lower()

    @field_validator("secret_key")
    @classmethod
    def _fernet_key(cls, value: str | None) -> str | None:
        """Checked at start: a key that is not one failed only a run's first secret, saying
        the workers' keys differ."""
        from cryptography.fernet import Fernet

        if value:
            try:
                Fernet(value.encode())
            except ValueError:
                raise ValueError("not a Fernet key (32 url-safe base64-encoded bytes; make one with "
                                 "`python -c 'from cryptography.fernet import Fernet; "
                                 "print(Fernet.generate_key().decode())'`)") from None
        return value

    @field_validator("api_url")
    @classmethod
    def _api_base(cls, value: str) -> str:
        """The API's base address. `attune up` prints the API as `http://host:port/api/v1`, so
        that form (the one users copy) means the same as the bare base."""
        base = value.strip().rstrip("/")
        if not base.lower().startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// address, e.g. http://127.0.0.1:8000")
        return base.removesuffix("/api/v1").rstrip("/")

    def serving_the_api(self) -> Settings:
        """For the process that serves the API (`attune api`, `attune up`): unless ATTUNE_API_URL
        (or a flag) says where the API is reached (a proxy, a container's name), workers and
        actions call back its own host and port. It kept the default :8000 whatever --port
        said: actions called another address, and their execution ids were never claimed."""
        if "api_url" not in self.model_fields_set:
            self.api_url = local_url(self.api_host, self.api_port)
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.state_dir).resolve() / 'attune.db'}"

    @property
    def effective_blob_dir(self) -> str:
        return self.blob_dir or str(Path(self.state_dir).resolve() / "blobs")

    @classmethod
    def load(cls, **flags: object) -> Settings:
        """Flags that are not None win over ATTUNE_<NAME> environment variables. A value that
        is not valid raises SettingsError naming the variable (or setting) and what it needs."""
        given = {name: value for name, value in flags.items() if value is not None}
        try:
            return cls(**given)  # type: ignore[arg-type]
        except ValidationError as exc:
            raise SettingsError("; ".join(_problem(e, given) for e in exc.errors())) from None


class SettingsError(ValueError):
    """A configuration value that cannot be used (a usage error: the CLI exits 2)."""


def _problem(error: Any, flags: dict[str, object]) -> str:
    name = str(error["loc"][0]) if error.get("loc") else "?"
    where = f"setting {name}" if name in flags else f"ATTUNE_{name.upper()}"
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ") + _allowed(name)
    if name in _NOT_SHOWN:  # an error message must not print a secret, even a malformed one
        return f"{where}: {message}"
    return f"{where}={error.get('input')!r}: {message}"


_NOT_SHOWN = ("secret_key", "api_token")


def _allowed(name: str) -> str:
    """` (allowed: 1 to 65535)` for a numeric setting with bounds, else "": every bad number
    says the whole range, not only the bound it crossed."""
    field = Settings.model_fields.get(name)
    bounds = {key: getattr(rule, key) for rule in (field.metadata if field else [])
              for key in ("ge", "le") if getattr(rule, key, None) is not None}
    if not bounds:
        return ""
    return f" (allowed: {bounds.get('ge', '-inf')} to {bounds.get('le', 'inf')})"


def local_url(host: str, port: int) -> str:
    """The http address of a server listening on host:port, from this machine: a wildcard
    host (0.0.0.0, ::) is reached at the loopback address, an IPv6 one in brackets."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host.strip("[]"), host.strip("[]"))
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def runtime_queue(runner: str, prefix: str = DEFAULT_QUEUE_PREFIX) -> str:
    """Task queue served by one runtime's worker pool."""
    return f"{prefix}-{runner}"


def orchestrator_queue(prefix: str = DEFAULT_QUEUE_PREFIX) -> str:
    """Task queue of the workflow (orchestrator) workers: one prefix keeps one deployment's
    queues apart from another's on a shared Temporal namespace."""
    return runtime_queue(ORCHESTRATOR, prefix)
