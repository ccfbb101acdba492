"""Action processes (spec §7): run one shell/Python/Node.js action and capture its result.

No Temporal here: the engine wraps `run_process` in an activity and passes a heartbeat callback.
"""

from attune.runtimes.environments import EnvironmentBuildError, prepare_environment
from attune.runtimes.models import EnvironmentInfo, ProcessRequest, ProcessResult
from attune.runtimes.process import KILL_GRACE_SECONDS, OUTPUT_CAP_BYTES, run_process

__all__ = [
    "KILL_GRACE_SECONDS", "OUTPUT_CAP_BYTES", "EnvironmentBuildError", "EnvironmentInfo", "ProcessRequest",
    "ProcessResult", "prepare_environment", "run_process",
]
