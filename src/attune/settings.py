"""Configuration: flags (passed in by the CLI) over `ATTUNE_*` environment over defaults."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel

STATE_DIR_DEFAULT = ".attune"


class Settings(BaseModel):
    state_dir: str = STATE_DIR_DEFAULT
    database_url: str | None = None  # None = SQLite under state_dir
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_ui_port: int = 8233
    temporal_ui_url: str | None = None  # None = http://<temporal host>:<temporal_ui_port>
    api_url: str = "http://127.0.0.1:8000"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_token: str | None = None
    mirror_interval: float = 0.25  # seconds between records-mirror polls of running workflows
    packs_dir: str = "packs"
    queue_prefix: str = "attune"
    # Fernet key sealing secret parameters (attune.secrets reads ATTUNE_SECRET_KEY, else
    # <state_dir>/secret.key); listed here so it is a documented setting.
    secret_key: str | None = None
    # Run the orchestrator's workflow code in Temporal's sandbox (slower; see engine/worker.py).
    workflow_sandbox: bool = False

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.state_dir).resolve() / 'attune.db'}"

    @classmethod
    def load(cls, **flags: object) -> "Settings":
        """Flags that are not None win over ATTUNE_<NAME> environment variables."""
        values: dict[str, object] = {}
        for name in cls.model_fields:
            env = os.environ.get(f"ATTUNE_{name.upper()}")
            if env not in (None, ""):
                values[name] = env
            if flags.get(name) is not None:
                values[name] = flags[name]
        return cls(**values)


def runtime_queue(runner: str, prefix: str = "attune") -> str:
    """Task queue served by one runtime's worker pool."""
    return f"{prefix}-{runner}"


def orchestrator_queue(prefix: str = "attune") -> str:
    """Task queue of the workflow (orchestrator) workers: one prefix keeps one deployment's
    queues apart from another's on a shared Temporal namespace."""
    return runtime_queue("orchestrator", prefix)


ORCHESTRATOR_QUEUE = orchestrator_queue()
