#!/bin/bash
echo "about to fail" 
echo "qa.fail failed on purpose" >&2
exit 3
