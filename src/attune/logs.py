"""Logging of the stack's long-running processes (the API, the workers): one line per record,
with its time, level and logger, on stderr, which `attune up` sends to ./.attune/logs/<name>.log.
Without this, Python printed only WARNING and above, without time or origin ("mirror: cannot
read …"), and the API's log stayed empty however it was used."""

from __future__ import annotations

import logging

LEVELS = ("debug", "info", "warning", "error")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that say something per request at INFO: one line per task or per HTTP call drowns
# what an operator looks for, and costs each request the formatting.
_CHATTY = ("httpx", "httpcore")


def configure(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=FORMAT, force=True)
    if logging.getLogger().level > logging.DEBUG:
        for name in _CHATTY:
            logging.getLogger(name).setLevel(logging.WARNING)
