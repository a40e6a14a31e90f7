//! Comparing what DNS holds with what a domain should publish: pure functions over
//! TXT strings, so every tolerance below is unit-tested without a resolver.
//!
//! Tolerated, because DNS hosts and their users produce all of it and verifiers
//! accept it: a record split into several character-strings (joined, as RFC 6376
//! §3.6.2.2 and RFC 7208 §3.3 say), quotes pasted into a DNS host's text box and
//! stored literally (`"v=DKIM1; k=rsa; " "p=MIIB…"`), whitespace around tags and
//! inside the base64 of `p=`, tags in any order, tag names in any case, and a
//! missing `k=` (RFC 6376 default: `rsa`).

use sluice_model::{DkimInfo, DnsCheck, DnsCheckStatus, DnsRecordPurpose};

/// What a TXT lookup gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxtLookup {
    /// The name's TXT records, each record's strings joined.
    Found(Vec<String>),
    /// NXDOMAIN, or the name exists without TXT records.
    NotFound,
    /// SERVFAIL, timeout, unreachable name servers.
    Failed(String),
}

/// A check with no finding yet; the `check_*` functions fill in the rest.
fn check(purpose: DnsRecordPurpose, name: &str, expected: String, required: bool) -> DnsCheck {
    DnsCheck {
        purpose,
        name: name.to_string(),
        selector: None,
        status: DnsCheckStatus::Missing,
        required,
        expected,
        found: Vec::new(),
        detail: None,
    }
}

/// Undoes quotes that a user pasted along with the value (`"a" "b"` → `ab`).
pub fn unquote(value: &str) -> String {
    let trimmed = value.trim();
    if !trimmed.contains('"') {
        return trimmed.to_string();
    }
    let mut out = String::with_capacity(trimmed.len());
    let mut rest = trimmed;
    while let Some(start) = rest.find('"') {
        out.push_str(&rest[..start]);
        rest = &rest[start + 1..];
        match rest.find('"') {
            Some(end) => {
                out.push_str(&rest[..end]);
                rest = &rest[end + 1..];
                // Whitespace between two quoted strings only separated them.
                let next = rest.trim_start();
                if next.starts_with('"') {
                    rest = next;
                }
            }
            None => break,
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

/// A DKIM or DMARC tag list (`tag=value; …`), tag names lower-cased, values trimmed.
/// `None` when some part is not `tag=value`.
pub fn parse_tags(value: &str) -> Option<Vec<(String, String)>> {
    let mut tags = Vec::new();
    for part in value.split(';') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (name, value) = part.split_once('=')?;
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return None;
        }
        tags.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    Some(tags)
}

fn tag<'a>(tags: &'a [(String, String)], name: &str) -> Option<&'a str> {
    tags.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn without_whitespace(value: &str) -> String {
    value.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Short form of a base64 key for messages: the start and the end.
fn abbreviate(key: &str) -> String {
    if key.len() <= 24 {
        return key.to_string();
    }
    format!("{}…{}", &key[..12], &key[key.len() - 8..])
}

/// The DKIM record of `key` at `name` (`<selector>._domainkey.<domain>`).
pub fn check_dkim(name: &str, key: &DkimInfo, required: bool, lookup: &TxtLookup) -> DnsCheck {
    let mut result = check(
        DnsRecordPurpose::Dkim,
        name,
        crate::dkim::dkim_record_value(key),
        required,
    );
    result.selector = Some(key.selector.clone());
    let Some(records) = found_records(lookup, name, &mut result) else {
        return result;
    };
    let mut problems = Vec::new();
    for record in records {
        let text = unquote(record);
        let Some(tags) = parse_tags(&text) else {
            continue;
        };
        let Some(p) = tag(&tags, "p") else { continue };
        result.found.push(text.clone());
        let version_ok = tag(&tags, "v").is_none_or(|v| v == "DKIM1");
        let key_type = tag(&tags, "k").unwrap_or("rsa");
        let public_key = without_whitespace(p);
        let type_ok = key_type.eq_ignore_ascii_case(key.algorithm.key_type());
        let key_ok = public_key == without_whitespace(&key.public_key);
        if version_ok && type_ok && key_ok {
            result.status = DnsCheckStatus::Verified;
            result.detail = None;
            return result;
        }
        if !version_ok {
            problems.push(format!(
                "v= is {:?}, expected DKIM1",
                tag(&tags, "v").unwrap_or_default()
            ));
        }
        if !type_ok {
            problems.push(format!(
                "the key type k= is {key_type}, expected {}",
                key.algorithm.key_type()
            ));
        }
        if public_key.is_empty() {
            problems.push("p= is empty (a revoked key)".into());
        } else if !key_ok {
            problems.push(format!(
                "found the public key p={} instead of p={}",
                abbreviate(&public_key),
                abbreviate(&key.public_key)
            ));
        }
    }
    if result.found.is_empty() {
        result.found = records.iter().map(|r| unquote(r)).collect();
        result.detail = Some(format!(
            "the TXT records at {name} are not DKIM key records"
        ));
    } else {
        result.detail = Some(problems.join("; "));
    }
    result.status = DnsCheckStatus::Mismatch;
    result
}

/// The SPF record at the domain must exist once and authorize Sluice: `include:` (or
/// `redirect=`) the operator's SPF domain, without a qualifier that negates it.
pub fn check_spf(name: &str, spf_include: &str, lookup: &TxtLookup) -> DnsCheck {
    let wanted = spf_include.trim_end_matches('.').to_ascii_lowercase();
    let mut result = check(
        DnsRecordPurpose::Spf,
        name,
        format!("include:{wanted}"),
        true,
    );
    let Some(records) = found_records(lookup, name, &mut result) else {
        return result;
    };
    result.found = records
        .iter()
        .map(|r| unquote(r))
        .filter(|r| is_spf(r))
        .collect();
    match result.found.as_slice() {
        [] => {
            result.detail = Some(format!("no TXT record starting with v=spf1 at {name}"));
        }
        [record] => {
            let authorizes = record.split_whitespace().skip(1).any(|term| {
                let term = term.strip_prefix('+').unwrap_or(term).to_ascii_lowercase();
                let target = term
                    .strip_prefix("include:")
                    .or_else(|| term.strip_prefix("redirect="));
                target.is_some_and(|t| t.trim_end_matches('.') == wanted)
            });
            if authorizes {
                result.status = DnsCheckStatus::Verified;
            } else {
                result.status = DnsCheckStatus::Mismatch;
                result.detail = Some(format!(
                    "the SPF record does not include:{wanted}, so receivers will not accept mail sent through Sluice as authorized"
                ));
            }
        }
        _ => {
            result.status = DnsCheckStatus::Mismatch;
            result.detail = Some(
                "several SPF records: receivers treat that as an error (RFC 7208 §4.5); merge them into one"
                    .into(),
            );
        }
    }
    result
}

/// The TXT records found, or `None` with `result` saying why there are none.
fn found_records<'a>(
    lookup: &'a TxtLookup,
    name: &str,
    result: &mut DnsCheck,
) -> Option<&'a [String]> {
    match lookup {
        TxtLookup::Found(records) => Some(records),
        TxtLookup::NotFound => {
            result.detail = Some(format!("no TXT record at {name}"));
            None
        }
        TxtLookup::Failed(reason) => {
            result.status = DnsCheckStatus::LookupFailed;
            result.detail = Some(reason.clone());
            None
        }
    }
}

fn is_spf(record: &str) -> bool {
    let lower = record.to_ascii_lowercase();
    lower == "v=spf1" || lower.starts_with("v=spf1 ")
}

/// The DMARC record at `_dmarc.<domain>`: exactly one, with a valid policy. Its
/// content beyond that is the domain owner's choice, so it is not compared with the
/// suggested record.
pub fn check_dmarc(name: &str, suggested: &str, lookup: &TxtLookup) -> DnsCheck {
    let mut result = check(DnsRecordPurpose::Dmarc, name, suggested.to_string(), false);
    let Some(records) = found_records(lookup, name, &mut result) else {
        return result;
    };
    result.found = records
        .iter()
        .map(|r| unquote(r))
        .filter(|r| {
            parse_tags(r)
                .and_then(|tags| tags.first().cloned())
                .is_some_and(|(name, value)| name == "v" && value.eq_ignore_ascii_case("DMARC1"))
        })
        .collect();
    match result.found.as_slice() {
        [] => result.detail = Some(format!("no TXT record starting with v=DMARC1 at {name}")),
        [record] => {
            let policy = parse_tags(record)
                .and_then(|tags| tag(&tags, "p").map(str::to_ascii_lowercase))
                .unwrap_or_default();
            if matches!(policy.as_str(), "none" | "quarantine" | "reject") {
                result.status = DnsCheckStatus::Verified;
            } else {
                result.status = DnsCheckStatus::Mismatch;
                result.detail = Some("the DMARC record has no valid p= policy".into());
            }
        }
        _ => {
            result.status = DnsCheckStatus::Mismatch;
            result.detail =
                Some("several DMARC records: receivers ignore them all (RFC 7489 §6.6.3)".into());
        }
    }
    result
}

#[cfg(test)]
mod tests;
