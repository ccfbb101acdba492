"""Request and result of one action process (spec §7). Plain pydantic: the engine wraps these in an
activity, so both must stay small and serialisable."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, Field

from attune.secrets import redact
from attune.workflows.definition import DEFAULT_TIMEOUT_SECONDS

# The runtimes, each served by its own worker pool and task queue: named here, used everywhere.
Runtime = Literal["shell", "python", "nodejs"]
RUNTIMES: tuple[Runtime, ...] = get_args(Runtime)


class ProcessRequest(BaseModel):
    execution_id: str
    action_ref: str
    pack_ref: str
    pack_dir: str  # absolute path of the pack directory (cwd of the process)
    runner: Runtime
    entry_point: str  # relative to <pack_dir>/actions/
    parameters: dict[str, Any] = Field(default_factory=dict)
    secret_names: list[str] = Field(default_factory=list)  # values never logged
    # The JSON Schema of each secret parameter that arrives sealed: the workflow could not check
    # its value (pattern, maxLength, ...); the worker does, once it has unsealed it.
    secret_checks: dict[str, dict[str, Any]] = Field(default_factory=dict)
    parameter_delivery: Literal["stdin", "file"] = "stdin"
    parameter_format: Literal["json", "yaml", "dotenv"] = "json"
    output_format: Literal["text", "json", "yaml", "jsonl"] = "text"
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    api_url: str = "http://127.0.0.1:8000"
    # python only: fork from the warm starter (or take a child it forked ahead); False = plain spawn
    warm: bool = True
    # Give the process an execution token (spec §9); the worker mints it into `api_token` just
    # before the start, so it never travels through Temporal.
    issue_token: bool = False
    api_token: str | None = None
    # Ask the API for the attempt's record id (ATTUNE_EXEC_ID); `record_id` is its answer.
    claim_record: bool = False
    record_id: int | None = None
    # The action YAML the run's copy of the action came from (relative to pack_dir) and the
    # sha256 of its content: when the file differs as the task starts, the worker runs the
    # script with the YAML as it is now (attune.packs.current); None: no such check (a request
    # built before these fields, an action not loaded from a pack's files).
    metadata_file: str | None = None
    metadata_digest: str | None = None
    # Parameters holding the run's copy's default: the current YAML's default replaces them.
    defaulted: list[str] = Field(default_factory=list)

    def redacted_parameters(self) -> dict[str, Any]:
        """Parameters safe to log: secret values replaced."""
        return redact(self.parameters, self.secret_names)


class ProcessResult(BaseModel):
    succeeded: bool
    exit_code: int | None  # -N when killed by signal N; None when the status is unknown
    duration_ms: int
    stdout: str | None = None  # None when stdout was parsed into data
    stderr: str | None = None
    data: Any = None
    error: str | None = None
    # Exit 0, but stdout did not parse per output_format: the task succeeds (spec §7, as Attune
    # does), keeping stdout as text instead of `data`; this says why there is no `data`.
    parse_error: str | None = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    # How many bytes the process wrote to each stream, set when that stream was cut: the
    # surfaces say how much was kept of how much ("stdout cut at 256 KiB of 5.1 MB").
    stdout_bytes: int | None = None
    stderr_bytes: int | None = None
    timed_out: bool = False
    cancelled: bool = False

    def as_task_result(self) -> dict[str, Any]:
        """Spec §6 task-result shape: None keys omitted, flags only when set."""
        out: dict[str, Any] = {
            "succeeded": self.succeeded,
            "exit_code": self.exit_code,
            "duration_ms": self.duration_ms,
        }
        for key in ("stdout", "stderr", "data", "error", "parse_error"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        for key in ("stdout_truncated", "stderr_truncated", "timed_out", "cancelled"):
            if getattr(self, key):
                out[key] = True
        for stream in ("stdout", "stderr"):
            total = getattr(self, f"{stream}_bytes")
            if total is not None and getattr(self, f"{stream}_truncated"):
                out[f"{stream}_bytes"] = total
        return out


class EnvironmentInfo(BaseModel):
    """What `prepare_environment` resolved for one pack and runner."""

    runner: Runtime
    interpreter: str  # absolute path of bash / python / node
    env_dir: str | None = None  # the venv or node_modules directory, when the pack has one
    extra_env: dict[str, str] = Field(default_factory=dict)  # e.g. NODE_PATH, VIRTUAL_ENV, PATH
    built: bool = False  # True only for the call that actually built the environment
