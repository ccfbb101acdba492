#!/bin/bash
# Reads JSON parameters on stdin and returns them as JSON.
cat
