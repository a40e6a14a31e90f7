# Shared helpers for scripts/dev.sh, scripts/test.sh and .ci/run.
# They install what a fresh Debian/Ubuntu machine with Rust lacks, and nothing else.

say() { printf '==> %s\n' "$*" >&2; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else say "need root to run: $*"; return 1
    fi
}

apt_updated=""
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        say "apt-get not found: install $* with your package manager"; return 1
    fi
    if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
    say "installing $* (Debian packages)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Sluice starts its own redis-server processes (sluice dev, every test); it only
# needs the binary. The distribution's package is enough.
ensure_redis_server() {
    if command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; then return 0; fi
    apt_install redis-server
}

# The end-to-end tests check DKIM signatures with dkimpy, an implementation
# independent of the one that signs. Finds or installs a Python that has it and
# exports SLUICE_TEST_PYTHON.
ensure_dkim_verifier() {
    local py
    for py in "${SLUICE_TEST_PYTHON:-}" python3 /usr/bin/python3; do
        if [ -n "$py" ] && "$py" -c 'import dkim, nacl' >/dev/null 2>&1; then
            export SLUICE_TEST_PYTHON="$py"; return 0
        fi
    done
    if command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1 \
        && python3 -m pip install --quiet --disable-pip-version-check dkimpy pynacl >/dev/null 2>&1 \
        && python3 -c 'import dkim, nacl' >/dev/null 2>&1; then
        export SLUICE_TEST_PYTHON=python3; return 0
    fi
    # Debian/Ubuntu package dkimpy as python3-dkim (system Python refuses pip installs).
    apt_install python3 python3-dkim python3-nacl
    export SLUICE_TEST_PYTHON=/usr/bin/python3
    "$SLUICE_TEST_PYTHON" -c 'import dkim, nacl'
}

# The webhook tests verify every signature with the Standard Webhooks reference
# library (PyPI `standardwebhooks`, not packaged by Debian), in the same Python as
# dkimpy (SLUICE_TEST_PYTHON).
ensure_webhook_verifier() {
    local py="${SLUICE_TEST_PYTHON:-python3}"
    if "$py" -c 'import standardwebhooks' >/dev/null 2>&1; then return 0; fi
    if ! "$py" -m pip --version >/dev/null 2>&1; then apt_install python3-pip; fi
    say "installing standardwebhooks (PyPI) for $py"
    # A distribution's own Python refuses plain pip installs (PEP 668).
    "$py" -m pip install --quiet --disable-pip-version-check standardwebhooks >/dev/null 2>&1 \
        || "$py" -m pip install --quiet --disable-pip-version-check --break-system-packages standardwebhooks >/dev/null
    "$py" -c 'import standardwebhooks'
}

# The SMTP submission tests submit with swaks (a scriptable SMTP client with
# STARTTLS and AUTH; Debian package), besides Python's smtplib and lettre.
ensure_swaks() {
    if command -v swaks >/dev/null 2>&1; then return 0; fi
    # TLS needs Net::SSLeay and IO::Socket::SSL, only recommended by the package.
    apt_install swaks libnet-ssleay-perl libio-socket-ssl-perl
}

# Rust crates that build C code need a C compiler.
ensure_cc() {
    if command -v cc >/dev/null 2>&1; then return 0; fi
    apt_install build-essential
}

# The operations kit's alert rules are checked and unit-tested with promtool, from
# the distribution's `prometheus` package (its daemon is not started); the checker
# itself reads YAML (PyYAML) in SLUICE_TEST_PYTHON.
ensure_deploy_checker() {
    command -v promtool >/dev/null 2>&1 || apt_install prometheus
    local py="${SLUICE_TEST_PYTHON:-python3}"
    if "$py" -c 'import yaml' >/dev/null 2>&1; then return 0; fi
    "$py" -m pip install --quiet --disable-pip-version-check pyyaml >/dev/null 2>&1 \
        || "$py" -m pip install --quiet --disable-pip-version-check --break-system-packages pyyaml >/dev/null 2>&1 \
        || apt_install python3-yaml
    "$py" -c 'import yaml'
}

# The console's browser test (tests/it/console_browser.rs) drives Debian's headless
# chromium through its chromedriver (W3C WebDriver over loopback HTTP).
ensure_chromium() {
    if { command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; } \
        && { command -v chromedriver >/dev/null 2>&1 || [ -x /usr/bin/chromedriver ]; }; then
        return 0
    fi
    apt_install chromium chromium-driver
}
