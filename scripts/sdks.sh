#!/usr/bin/env bash
# The client SDKs in sdks/, generated from the committed OpenAPI document
# (api-spec/openapi.json) by pinned generators:
#
#   sdks/python/                  openapi-python-client (config: sdks/python-config.yaml)
#   sdks/typescript/src/schema.ts openapi-typescript (the types openapi-fetch is used with)
#
#   bash scripts/sdks.sh generate   rewrite both from the spec
#   bash scripts/sdks.sh check      generate into a temporary directory and fail when
#                                   the SDKs in sdks/ differ (CI runs this)
#
# Generated files are committed exactly as the generators write them: to change
# them, change the spec (or the generator's config) and run `generate`. The
# generators are installed by ensure_sdk_tools (scripts/lib.sh) at the versions
# pinned there and in sdks/typescript/package-lock.json. Their warnings are printed,
# never hidden: each one is something in the spec worth fixing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

usage() {
    echo "usage: bash scripts/sdks.sh generate|check" >&2
    exit 2
}
[ $# -eq 1 ] || usage
case "$1" in generate | check) ;; *) usage ;; esac

ROOT="$PWD"
SPEC="$ROOT/api-spec/openapi.json"
PY="${SLUICE_TEST_PYTHON:-python3}"
ensure_sdk_tools

# Generates both SDKs from the spec into $1: $1/python (the whole project) and
# $1/schema.ts.
generate_into() {
    local out="$1" bin
    # The generator's post hooks run `ruff` from PATH: the one pinned beside it.
    bin="$("$PY" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
    local ruff_version
    ruff_version="$(PATH="$bin:$PATH" ruff --version)"
    if [ "$ruff_version" != "ruff ${SDK_PYTHON_PINS[1]#ruff==}" ]; then
        say "the generator would format with $ruff_version, not the pinned ${SDK_PYTHON_PINS[1]}"
        return 1
    fi
    say "openapi-python-client → sdks/python"
    (cd "$out" && PATH="$bin:$PATH" RUFF_NO_CACHE=true PYTHONDONTWRITEBYTECODE=1 \
        "$PY" -m openapi_python_client generate --path "$SPEC" \
        --config "$ROOT/sdks/python-config.yaml" --meta uv --output-path "$out/python" >&2)
    say "openapi-typescript → sdks/typescript/src/schema.ts"
    # An object schema without properties takes any (JSON Schema); by default
    # openapi-typescript would type it as an object with no keys at all.
    (cd "$ROOT/sdks/typescript" \
        && node node_modules/openapi-typescript/bin/cli.js "$SPEC" --empty-objects-unknown \
            --output "$out/schema.ts" >&2)
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
generate_into "$tmp"

if [ "$1" = generate ]; then
    rm -rf sdks/python
    mv "$tmp/python" sdks/python
    cp "$tmp/schema.ts" sdks/typescript/src/schema.ts
    say "sdks/ regenerated from api-spec/openapi.json; commit sdks/python and sdks/typescript/src/schema.ts"
    exit 0
fi

# check: the committed SDKs against what the generators make of the spec now
# (compiled-Python caches left by running the SDK are not part of it).
status=0
if ! diff -rq -x __pycache__ "$tmp/python" sdks/python >"$tmp/python.diff"; then status=1; fi
if ! diff -q "$tmp/schema.ts" sdks/typescript/src/schema.ts >"$tmp/schema.diff"; then status=1; fi
if [ "$status" -ne 0 ]; then
    say "the SDKs in sdks/ are not what the generators make of api-spec/openapi.json:"
    sed -e "s#$tmp/#(generated) #g" "$tmp/python.diff" "$tmp/schema.diff" >&2
    diff -ru -x __pycache__ "$tmp/python" sdks/python | sed -e "s#$tmp/#(generated) #g" | head -40 >&2 || true
    diff -u "$tmp/schema.ts" sdks/typescript/src/schema.ts | sed -e "s#$tmp/#(generated) #g" | head -40 >&2 || true
    say "fix: bash scripts/sdks.sh generate, then commit sdks/"
    exit 1
fi
say "sdks/ matches api-spec/openapi.json"
