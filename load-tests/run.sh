#!/usr/bin/env bash
# Builds the release binaries and runs the Sluice load generator self-contained:
# a private redis-server (or with --cluster a Redis Cluster), a fast SMTP sink and
# `sluice serve` (or api and worker processes), all on this machine.
# Every argument is passed to the generator, e.g.
#
#   load-tests/run.sh                                  # 20,000 messages at concurrency 32
#   load-tests/run.sh --concurrency 64 --messages 10000
#   load-tests/run.sh --duration 20s --dkim ed25519 --json
#   load-tests/run.sh --scenario isolation --messages 20000   # direct MX, healthy vs black hole
#   load-tests/run.sh --scenario rate-limit --rate-limit 120  # per-minute limit held?
#   load-tests/run.sh --scenario webhooks --messages 5000     # events to a webhook endpoint
#   load-tests/run.sh --scenario otp --backlog 20000 --otps 200  # OTP latency during a bulk backlog
#   load-tests/run.sh --cluster --messages 20000              # Redis Cluster of 3 masters, 2 APIs, 2 workers
#
# See `load-tests/run.sh --help` and load-tests/README.md.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo was not found: install Rust (https://rustup.rs) and a C compiler (sudo apt-get install build-essential)" >&2
    exit 1
fi
if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ] && [ ! -x /usr/local/bin/redis-server ]; then
    echo "redis-server was not found: install it (Debian/Ubuntu: sudo apt-get install redis-server)" >&2
    exit 1
fi

cargo build --release -p sluice -p sluice-load-tests

# Where cargo put the binaries (honours CARGO_TARGET_DIR and .cargo/config.toml).
target_dir="$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-$root/target}"

args=("$@")
explicit=no
for arg in "$@"; do
    case "$arg" in
        --target | --target=* | --sluice-bin | --sluice-bin=* | -h | --help | -V | --version) explicit=yes ;;
    esac
done
if [ "$explicit" = no ]; then
    args=(--sluice-bin "$target_dir/release/sluice" "${args[@]}")
fi

exec "$target_dir/release/sluice-load-tests" "${args[@]}"
