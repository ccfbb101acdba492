"""Logging of the stack's long-running processes (the API, the workers): one line per record,
with its time, level and logger, on stderr, which `attune up` sends to ./.attune/logs/<name>.log.
Without this, Python printed only WARNING and above, without time or origin ("mirror: cannot
read …"), and the API's log stayed empty however it was used."""

from __future__ import annotations

import logging

from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig

LEVELS = ("debug", "info", "warning", "error")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that say something per request at INFO: one line per task or per HTTP call drowns
# what an operator looks for, and costs each request the formatting.
_CHATTY = ("httpx", "httpcore")


# A task handed back by a worker being stopped, whose launcher died, or that lacks the pack's
# files or the deployment's key, is the documented path (Temporal runs it again elsewhere): the
# SDK's warning keeps its line, which names the cause, not a traceback per task.
_HANDED_BACK = ("WorkerStopped", "LauncherDied", "NotOnThisWorker", "WrongSecretKey")


def configure(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=FORMAT, force=True)
    if logging.getLogger().level > logging.DEBUG:
        for name in _CHATTY:
            logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("temporalio.activity").addFilter(_no_traceback_for_handed_back)
    # The SDK's core wrote its own lines (another time format, ANSI colours even into a file):
    # they go through the format above instead. Before any client exists (the default runtime).
    Runtime.set_default(Runtime(telemetry=temporal_telemetry()), error_if_already_set=False)


def temporal_telemetry(**more: object) -> TelemetryConfig:
    """The Temporal runtime's telemetry, its core's log lines forwarded to Python's logging."""
    forwarding = LogForwardingConfig(logger=logging.getLogger("temporalio.core"),
                                     append_target_to_name=False)  # the target leads its message
    return TelemetryConfig(logging=LoggingConfig(filter=LoggingConfig.default.filter,
                                                 forwarding=forwarding), **more)  # type: ignore[arg-type]


def _no_traceback_for_handed_back(record: logging.LogRecord) -> bool:
    error = record.exc_info[1] if record.exc_info else None
    if getattr(error, "type", None) in _HANDED_BACK:
        record.exc_info, record.exc_text = None, None
        record.msg = f"{record.msg}: {error}"
    return True
