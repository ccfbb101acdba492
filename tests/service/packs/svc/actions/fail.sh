#!/usr/bin/env bash
echo "svc.fail: failing on purpose" >&2
exit 3
