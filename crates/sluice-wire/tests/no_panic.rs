//! The DSN and ARF parsers read untrusted bytes from the internet, so they must answer
//! `Ok` or `Err` for any input and never panic. Without a fuzzing harness in CI, this
//! feeds them the inputs most likely to break offset arithmetic: every prefix of every
//! fixture (truncated messages and MIME parts), fixtures with random bytes overwritten,
//! and pure noise. The generator is seeded so a failure reproduces.

use std::fs;
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_wire::{InboundReport, parse_arf, parse_dsn, parse_inbound};

fn parse_all(raw: &[u8]) {
    // Only reaching the end matters; the results themselves are irrelevant here.
    let _ = parse_dsn(raw);
    let _ = parse_arf(raw);
    let _ = parse_inbound(raw);
}

fn fixtures() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files: Vec<_> = fs::read_dir(dir)
        .expect("fixtures directory")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| fs::read(path).expect("read fixture"))
        .collect()
}

#[test]
fn truncated_fixtures_never_panic() {
    for raw in fixtures() {
        // `parse_inbound` runs both parsers on each prefix except the DSN parser on
        // feedback reports, which gets its own call; repeating all three would only
        // triple the run time of this, the slowest test of the crate.
        let is_arf =
            parse_inbound(&raw).is_ok_and(|report| matches!(report, InboundReport::Arf(_)));
        for end in 0..=raw.len() {
            let _ = parse_inbound(&raw[..end]);
            if is_arf {
                let _ = parse_dsn(&raw[..end]);
            }
        }
    }
}

#[test]
fn mutated_fixtures_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x5107_1ce0);
    // Bytes that steer MIME and field parsing: delimiters, line ends, non-ASCII.
    const INTERESTING: &[u8] = b"-\r\n:;<>@=\"\t .\x00\xff\xc3";
    for raw in fixtures() {
        for _ in 0..300 {
            let mut mutated = raw.clone();
            for _ in 0..rng.random_range(1..8) {
                let at = rng.random_range(0..mutated.len());
                mutated[at] = if rng.random_bool(0.5) {
                    INTERESTING[rng.random_range(0..INTERESTING.len())]
                } else {
                    rng.random()
                };
            }
            parse_all(&mutated);
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = StdRng::seed_from_u64(42);
    for _ in 0..2000 {
        let len = rng.random_range(0..2048);
        let noise: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        parse_all(&noise);
    }
    let headers_then_noise = |rng: &mut StdRng| {
        let mut raw = b"From: MAILER-DAEMON@example.net\r\nContent-Type: multipart/report; \
            report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n"
            .to_vec();
        raw.extend((0..rng.random_range(0..512)).map(|_| rng.random::<u8>()));
        raw
    };
    for _ in 0..1000 {
        parse_all(&headers_then_noise(&mut rng));
    }
}
