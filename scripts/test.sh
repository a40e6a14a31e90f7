#!/usr/bin/env bash
# Runs every test: unit tests, and integration tests that start their own
# redis-server processes on free ports, real SMTP sinks on loopback, and check
# DKIM signatures with dkimpy; first, that the SDKs in sdks/ are what the generators
# make of api-spec/openapi.json. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_cc
ensure_redis_server
ensure_dkim_verifier
ensure_webhook_verifier
ensure_deploy_checker
ensure_swaks
ensure_chromium
ensure_sdk_tools
ensure_contract_fuzzer
say "dkimpy found via $SLUICE_TEST_PYTHON"
say "deploy/: alert rules, their tests, dashboard and compose file"
"$SLUICE_TEST_PYTHON" scripts/check-deploy.py
say "api-spec/openapi.json: a valid OpenAPI document"
"$SLUICE_TEST_PYTHON" -m openapi_spec_validator api-spec/openapi.json
say "sdks/: the generated SDKs match the spec"
bash scripts/sdks.sh check
cargo test --workspace "$@"
