#!/bin/sh
# Install acme-client, start a local test CA (pebble) on loopback, and issue
# a real certificate for demo.example.test with real http-01 validation.
set -eu
cd "$(dirname "$0")/.."
tools/bootstrap.sh
exec .venv/bin/python tools/demo.py "$@"
