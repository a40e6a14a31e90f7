//! The generated SDKs (`sdks/`) end to end: real Sluice roles, a real SMTP sink, and
//! in each language a script that goes through its SDK only — create a domain,
//! register a webhook on a receiver of its own on loopback, send a message and a
//! batch, read the message until delivered, verify its `message.delivered` webhook
//! with that language's Standard Webhooks library, and check a 422 problem.
//!
//! Python: `sdks/python-e2e/e2e.py` with the generated `sdks/python` on `PYTHONPATH`,
//! in `SLUICE_TEST_PYTHON`. TypeScript: `sdks/typescript/e2e/e2e.ts`, compiled with the
//! package's pinned `tsc` (so the SDK's types are checked), then run with `node`.
//! Their tools come from `ensure_sdk_tools` and `ensure_webhook_verifier` in
//! `scripts/lib.sh` (`scripts/test.sh` runs both); a missing one fails the test with
//! the fix, it never skips it.
#![allow(clippy::unwrap_used)]

use crate::common::TestEnv;
use crate::webhooks::webhook_config;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use sluice::run::Roles;
use sluice_smtp_server::AcceptAll;
use tokio::process::Command;

/// Each script waits at most 30 s for delivery and its webhook; this bounds the rest.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

const INSTALL_HINT: &str = "run `bash scripts/test.sh`, or `. scripts/lib.sh && ensure_sdk_tools && ensure_webhook_verifier`";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Sluice with loopback webhooks allowed, and a key with every tenant scope.
async fn start() -> (TestEnv, String) {
    let env = TestEnv::start_with(Arc::new(AcceptAll), Roles::ALL, webhook_config).await;
    let (_, key) = env.tenant_with_key(&["send", "read", "admin"]).await;
    (env, key)
}

/// Runs `command` to the end (bounded by [`SCRIPT_TIMEOUT`]) and returns its output;
/// asynchronously, since the scripts talk to the API served by this test's runtime.
async fn run(what: &str, command: &mut Command) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{what} could not start: {e}; {INSTALL_HINT}"));
    tokio::time::timeout(SCRIPT_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {SCRIPT_TIMEOUT:?}"))
        .unwrap()
}

/// Panics with everything the command printed unless it exited 0.
fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn python() -> String {
    std::env::var("SLUICE_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn python_command(sdks: &Path) -> Command {
    let mut command = Command::new(python());
    command
        .env("PYTHONPATH", sdks.join("python"))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    command
}

#[tokio::test]
async fn the_python_sdk_sends_reads_and_its_webhook_verifies() {
    let sdks = repo().join("sdks");
    let imports = run(
        "the Python SDK's imports",
        python_command(&sdks).args(["-c", "import sluice_client, httpx, attrs, standardwebhooks"]),
    )
    .await;
    assert!(
        imports.status.success(),
        "{} cannot import the SDK or its dependencies: {}; {INSTALL_HINT} \
         (and `bash scripts/sdks.sh generate` if sdks/python is missing)",
        python(),
        String::from_utf8_lossy(&imports.stderr)
    );

    let (env, key) = start().await;
    let output = run(
        "sdks/python-e2e/e2e.py",
        python_command(&sdks)
            .arg(sdks.join("python-e2e/e2e.py"))
            .env("SLUICE_URL", &env.base)
            .env("SLUICE_API_KEY", &key),
    )
    .await;
    assert_success("sdks/python-e2e/e2e.py", &output);
    env.stop().await;
}

#[tokio::test]
async fn the_typescript_sdk_sends_reads_and_its_webhook_verifies() {
    let package = repo().join("sdks/typescript");
    for module in ["typescript", "openapi-fetch", "standardwebhooks"] {
        assert!(
            package.join("node_modules").join(module).is_dir(),
            "sdks/typescript/node_modules/{module} is missing; {INSTALL_HINT}"
        );
    }
    // Type-checks the SDK's use against the generated schema, and builds dist/.
    let tsc = run(
        "tsc",
        Command::new("node")
            .arg("node_modules/typescript/bin/tsc")
            .args(["-p", "tsconfig.json"])
            .current_dir(&package),
    )
    .await;
    assert_success("tsc -p sdks/typescript", &tsc);

    let (env, key) = start().await;
    let output = run(
        "sdks/typescript/e2e/e2e.ts",
        Command::new("node")
            .arg("dist/e2e/e2e.js")
            .current_dir(&package)
            .env("SLUICE_URL", &env.base)
            .env("SLUICE_API_KEY", &key),
    )
    .await;
    assert_success("sdks/typescript/e2e/e2e.ts", &output);
    env.stop().await;
}
