#!/usr/bin/env bash
# core.noop: succeed without doing anything. Drain stdin so the runner's parameter write
# never meets a closed pipe.
cat >/dev/null
