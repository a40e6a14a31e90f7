//! Keys of outbound policy: the MTA-STS policy cache, TLS-RPT counters and their
//! daily send, and the blocklist watch. Each is a hash tag of its own.

/// The cached MTA-STS policy of a recipient domain (see [`tls_policy`](crate::tls_policy)).
pub fn mta_sts_policy(domain: &str) -> String {
    format!(concat!(root!(), ":mta-sts:{{{}}}"), domain)
}

/// One UTC day's TLS-RPT counters, every recipient domain's (`<domain>|<counter>`).
pub fn tls_rpt_day(day: i64) -> String {
    format!(concat!(root!(), ":tls-rpt:{{{}}}"), day)
}

/// The recipient domains whose report for `day` went out (or is going out).
pub fn tls_rpt_sent(day: i64) -> String {
    format!(concat!(root!(), ":tls-rpt-sent:{{{}}}"), day)
}

/// Held by the one process sending `day`'s reports.
pub fn tls_rpt_lease(day: i64) -> String {
    format!(concat!(root!(), ":tls-rpt-lease:{{{}}}"), day)
}

/// Every key of the blocklist watch starts with this (one hash slot: a round's
/// results, the listings and their events are written in one script call).
const DNSBL: &str = concat!(root!(), ":{sluice:dnsbl}");

/// The blocklist watch's keys, in the order its record script takes them: the
/// listings, the last checks, the operator event stream, the last round.
pub fn dnsbl_keys() -> [String; 4] {
    [
        format!("{DNSBL}:listed"),
        format!("{DNSBL}:checks"),
        format!("{DNSBL}:events"),
        format!("{DNSBL}:round"),
    ]
}

/// The lease of the process running this interval's blocklist lookups.
pub fn dnsbl_lease() -> String {
    format!("{DNSBL}:lease")
}
