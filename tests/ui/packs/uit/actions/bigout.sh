#!/usr/bin/env bash
# uit.bigout: 300,000 bytes of stdout, more than the 256 KiB a result keeps.
head -c 300000 /dev/zero | tr '\0' x
