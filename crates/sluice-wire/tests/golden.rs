//! Golden files for the report parsers: every `tests/fixtures/*.eml` is read with
//! `parse_inbound`, rendered to JSON together with what a caller derives from it (the
//! VERP token, each recipient's SMTP reply and bounce class), and compared with the
//! `.json` file of the same name.
//!
//! After an intended change, rewrite the expectations with
//! `SLUICE_BLESS=1 cargo test -p sluice-wire --test golden` and review the diff like
//! code: the `.json` files are the specification of what we extract.
//!
//! The fixtures' return paths were produced by `VerpCodec` with [`VERP_KEY`] and
//! [`BOUNCE_DOMAIN`]; a fixture whose token does not verify fails the test.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sluice_model::DomainName;
use sluice_wire::{InboundReport, VerpCodec, parse_inbound};

/// Test-only VERP key the fixtures were generated with. Never used outside tests.
const VERP_KEY: &[u8] = b"sluice-golden-fixture-key";
const BOUNCE_DOMAIN: &str = "bounces.sluice.test";

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("fixtures directory")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    paths.sort();
    paths
}

fn codec() -> VerpCodec {
    VerpCodec::new(VERP_KEY, DomainName::parse(BOUNCE_DOMAIN).expect("domain"))
}

/// What the bounce receiver would learn from one message.
fn render(raw: &[u8]) -> Value {
    let report = match parse_inbound(raw) {
        Ok(report) => report,
        Err(error) => return json!({ "error": error.to_string() }),
    };
    let mut value = serde_json::to_value(&report).expect("serialize report");
    value["verp"] = json!(report.find_verp(&codec()));
    match &report {
        InboundReport::Dsn(dsn) => {
            let derived: Vec<Value> = dsn
                .recipients
                .iter()
                .map(|recipient| {
                    let bounce = recipient.classify();
                    json!({
                        "recipient": recipient.final_recipient,
                        "smtp_reply": recipient.smtp_reply(),
                        "bounce_type": bounce.map(|(bounce_type, _)| bounce_type),
                        "bounce_class": bounce.map(|(_, class)| class),
                    })
                })
                .collect();
            value["derived"] = json!(derived);
        }
        InboundReport::Arf(arf) => {
            value["derived"] = json!({
                "original_message_id": arf.original_message_id(),
                "original_to": arf.original_to(),
                "original_return_path": arf.original_return_path(),
            });
        }
    }
    value
}

#[test]
fn reports_match_their_golden_files() {
    let bless = std::env::var("SLUICE_BLESS").is_ok_and(|value| value == "1");
    let fixtures = fixtures();
    assert!(fixtures.len() >= 10, "fixtures missing: {fixtures:?}");
    let mut failures = Vec::new();
    for eml in &fixtures {
        let raw = fs::read(eml).expect("read fixture");
        let actual = render(&raw);
        let name = eml.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if actual["verp"].is_null() {
            failures.push(format!("{name}: no valid VERP token found"));
        }
        let golden = eml.with_extension("json");
        let pretty = serde_json::to_string_pretty(&actual).expect("pretty JSON") + "\n";
        if bless {
            fs::write(&golden, pretty).expect("write golden file");
            continue;
        }
        let expected: Value = match fs::read_to_string(&golden) {
            Ok(text) => serde_json::from_str(&text).expect("golden file is JSON"),
            Err(_) => {
                failures.push(format!("{name}: no golden file; run with SLUICE_BLESS=1"));
                continue;
            }
        };
        if expected != actual {
            failures.push(format!(
                "{name}: differs from its golden file; got:\n{pretty}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
