#!/usr/bin/env bash
# Runs Sluice on this machine: a private redis-server (data in ./data), a capture
# SMTP sink (delivered mail lands in ./data/outbox/*.eml), a tenant, the domain
# example.test and an API key. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_cc
ensure_redis_server
say "building sluice (the first build takes a few minutes)"
cargo build -q -p sluice
exec target/debug/sluice dev "$@"
