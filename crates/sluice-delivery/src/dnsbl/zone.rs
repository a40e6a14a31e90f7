//! One DNS blocklist and the two pure steps of asking it (RFC 5782): the name to
//! look up for an address, and what the A records found there mean.

use std::net::{IpAddr, Ipv4Addr};

/// A blocklist to watch (`[[delivery.dnsbl]]`), checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsblZone {
    /// Lower case, no trailing dot: `zen.spamhaus.org`.
    pub zone: String,
    /// The answers that mean "listed"; `None`: any 127.0.0.0/8 answer outside
    /// 127.255.255.0/24.
    pub listed: Option<Vec<Ipv4Addr>>,
    /// The providers a listing takes the address away from; `None`: every provider.
    pub providers: Option<Vec<String>>,
}

/// What one lookup says about one address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Listed; the first answer that says so.
    Listed(Ipv4Addr),
    /// NXDOMAIN, no A record, or only answers this zone's `listed` does not name.
    NotListed,
    /// 127.255.255.x: the blocklist refused to answer (Spamhaus: a public or
    /// unregistered resolver, or too many queries). Nothing is known.
    Refused(Ipv4Addr),
    /// The lookup failed, or answered outside 127.0.0.0/8 (a resolver rewriting
    /// NXDOMAIN, say). Nothing is known.
    Failed(String),
}

impl DnsblZone {
    /// The name whose A records say whether `ip` is listed: the IPv4 octets
    /// reversed (`2.0.0.127.zen.spamhaus.org`), an IPv6 address's 32 nibbles
    /// reversed (RFC 5782 §2.4), then the zone.
    pub fn query_name(&self, ip: IpAddr) -> String {
        let reversed: Vec<String> = match ip {
            IpAddr::V4(v4) => v4.octets().iter().rev().map(u8::to_string).collect(),
            IpAddr::V6(v6) => v6
                .octets()
                .iter()
                .rev()
                .flat_map(|byte| [byte & 0x0f, byte >> 4])
                .map(|nibble| format!("{nibble:x}"))
                .collect(),
        };
        format!("{}.{}", reversed.join("."), self.zone)
    }

    /// What the A records at [`query_name`](Self::query_name) mean. A listing
    /// answer wins over the others; a refusal (127.255.255.0/24) is never a
    /// listing, whatever `listed` says.
    pub fn classify(&self, answers: &[Ipv4Addr]) -> Verdict {
        if let Some(listed) = answers.iter().find(|a| self.means_listed(**a)) {
            return Verdict::Listed(*listed);
        }
        if let Some(refused) = answers.iter().find(|a| is_refusal(**a)) {
            return Verdict::Refused(*refused);
        }
        match answers.iter().find(|a| a.octets()[0] != 127) {
            Some(odd) => Verdict::Failed(format!("answer {odd} is outside 127.0.0.0/8")),
            None => Verdict::NotListed,
        }
    }

    /// Whether a listing on this zone takes `ip`'s traffic to `provider` away.
    pub fn applies_to(&self, provider: &str) -> bool {
        self.providers
            .as_ref()
            .is_none_or(|names| names.iter().any(|name| name == provider))
    }

    fn means_listed(&self, answer: Ipv4Addr) -> bool {
        if is_refusal(answer) {
            return false;
        }
        match &self.listed {
            Some(codes) => codes.contains(&answer),
            None => answer.octets()[0] == 127,
        }
    }
}

/// 127.255.255.0/24: the answers blocklists use for "query refused" (Spamhaus:
/// .252 typo in the zone, .254 public resolver, .255 excessive queries).
pub fn is_refusal(answer: Ipv4Addr) -> bool {
    matches!(answer.octets(), [127, 255, 255, _])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(listed: Option<&[[u8; 4]]>) -> DnsblZone {
        DnsblZone {
            zone: "zen.test".into(),
            listed: listed.map(|codes| codes.iter().map(|c| Ipv4Addr::from(*c)).collect()),
            providers: None,
        }
    }

    #[test]
    fn names_reverse_the_address() {
        let zen = zone(None);
        assert_eq!(
            zen.query_name("192.0.2.10".parse().unwrap_or(IpAddr::from([0; 4]))),
            "10.2.0.192.zen.test"
        );
        assert_eq!(
            zen.query_name(IpAddr::from([127, 0, 0, 2])),
            "2.0.0.127.zen.test"
        );
        // RFC 5782 §2.4's example address.
        let v6: IpAddr = "2001:db8:1:2:3:4:567:89ab"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(
            zen.query_name(v6),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.zen.test"
        );
    }

    #[test]
    fn answers_are_classified() {
        let any = zone(None);
        let a = |x: [u8; 4]| Ipv4Addr::from(x);
        assert_eq!(any.classify(&[]), Verdict::NotListed);
        assert_eq!(
            any.classify(&[a([127, 0, 0, 4])]),
            Verdict::Listed(a([127, 0, 0, 4]))
        );
        assert_eq!(
            any.classify(&[a([127, 255, 255, 254])]),
            Verdict::Refused(a([127, 255, 255, 254])),
            "a refused query is not a listing"
        );
        assert_eq!(
            any.classify(&[a([127, 255, 255, 254]), a([127, 0, 0, 2])]),
            Verdict::Listed(a([127, 0, 0, 2]))
        );
        assert!(matches!(
            any.classify(&[a([192, 0, 2, 1])]),
            Verdict::Failed(reason) if reason.contains("192.0.2.1")
        ));

        let only_sbl = zone(Some(&[[127, 0, 0, 2], [127, 255, 255, 254]]));
        assert_eq!(
            only_sbl.classify(&[a([127, 0, 0, 10])]),
            Verdict::NotListed,
            "codes the configuration does not name are not a listing"
        );
        assert_eq!(
            only_sbl.classify(&[a([127, 0, 0, 10]), a([127, 0, 0, 2])]),
            Verdict::Listed(a([127, 0, 0, 2]))
        );
        assert_eq!(
            only_sbl.classify(&[a([127, 255, 255, 254])]),
            Verdict::Refused(a([127, 255, 255, 254])),
            "a refusal never counts, even when configured"
        );
    }

    #[test]
    fn a_listing_applies_to_its_providers() {
        let mut zen = zone(None);
        assert!(zen.applies_to("gmail"));
        zen.providers = Some(vec!["outlook".into()]);
        assert!(zen.applies_to("outlook"));
        assert!(!zen.applies_to("gmail"));
    }
}
