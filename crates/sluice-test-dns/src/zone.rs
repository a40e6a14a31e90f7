//! The in-memory table and the answer logic, free of I/O so the server loops
//! stay trivial.

use std::collections::HashMap;

use hickory_proto::op::{Edns, Message, OpCode, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// Largest UDP answer we advertise in EDNS; larger answers go out truncated
/// (TC bit) so the client retries over TCP, exactly like a real server.
pub(crate) const EDNS_PAYLOAD: u16 = 1232;

/// What the table holds for one owner name.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// The name exists; record sets by type. A type that is absent (or
    /// present with no records) answers NOERROR with an empty answer
    /// section (NODATA).
    Data(HashMap<RecordType, Vec<RData>>),
    /// The name does not exist (same answer as an unknown name, but explicit
    /// so a test can turn an existing name into NXDOMAIN).
    NxDomain,
    /// Every query for this name fails with SERVFAIL.
    ServFail,
}

/// The fixture's state: the records, the TTL answers carry, and a log of
/// every question asked.
#[derive(Debug, Default)]
pub(crate) struct Zone {
    nodes: HashMap<String, Node>,
    ttl: u32,
    log: Vec<(String, String)>,
}

/// The table key for a name: lower case, IDNA-encoded, without the trailing
/// dot, so `Example.COM.` and `example.com` are the same entry.
pub(crate) fn key(name: &Name) -> String {
    let ascii = name.to_lowercase().to_ascii();
    ascii.strip_suffix('.').unwrap_or(&ascii).to_owned()
}

/// Parses a name given by a test.
///
/// # Panics
/// On a name that is not a valid domain name: a typo in a test should fail
/// loudly, not silently answer NXDOMAIN.
pub(crate) fn parse_name(name: &str) -> Name {
    let mut parsed = Name::from_utf8(name)
        .unwrap_or_else(|e| panic!("DnsFixture: '{name}' is not a valid domain name: {e}"));
    parsed.set_fqdn(true);
    parsed
}

impl Zone {
    /// Replaces the record set of one type at `name` (creating the name if
    /// needed, and turning an NXDOMAIN/SERVFAIL entry back into data).
    pub(crate) fn set_records(&mut self, name: &str, rtype: RecordType, records: Vec<RData>) {
        let node = self
            .nodes
            .entry(key(&parse_name(name)))
            .or_insert_with(|| Node::Data(HashMap::new()));
        if !matches!(node, Node::Data(_)) {
            *node = Node::Data(HashMap::new());
        }
        if let Node::Data(sets) = node {
            sets.insert(rtype, records);
        }
    }

    /// Replaces everything at `name` with `node`.
    pub(crate) fn set_node(&mut self, name: &str, node: Node) {
        self.nodes.insert(key(&parse_name(name)), node);
    }

    pub(crate) fn set_ttl(&mut self, ttl: u32) {
        self.ttl = ttl;
    }

    pub(crate) fn queries(&self) -> Vec<(String, String)> {
        self.log.clone()
    }

    /// Builds the answer to `request`, logging its question.
    pub(crate) fn respond(&mut self, request: &Message) -> Message {
        let mut response = Message::response(request.metadata.id, request.metadata.op_code);
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.metadata.authoritative = true;
        response.queries = request.queries.clone();
        if request.edns.is_some() {
            // RFC 6891 §6.1.1: a request with OPT gets a response with OPT.
            let mut edns = Edns::new();
            edns.set_max_payload(EDNS_PAYLOAD);
            response.set_edns(edns);
        }

        if request.metadata.op_code != OpCode::Query {
            response.metadata.response_code = ResponseCode::NotImp;
            return response;
        }
        let [query] = request.queries.as_slice() else {
            response.metadata.response_code = ResponseCode::FormErr;
            return response;
        };

        let name = key(query.name());
        let qtype = query.query_type();
        self.log.push((name.clone(), qtype.to_string()));

        match self.nodes.get(&name) {
            None | Some(Node::NxDomain) => {
                response.metadata.response_code = ResponseCode::NXDomain;
            }
            Some(Node::ServFail) => {
                // A failing server is not speaking with authority.
                response.metadata.authoritative = false;
                response.metadata.response_code = ResponseCode::ServFail;
            }
            Some(Node::Data(sets)) => {
                // The owner name echoes the question as asked (case included),
                // which resolvers using 0x20 case randomisation require.
                let owner = query.name().clone();
                for rdata in sets.get(&qtype).into_iter().flatten() {
                    response.add_answer(Record::from_rdata(owner.clone(), self.ttl, rdata.clone()));
                }
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::net::Ipv4Addr;

    use hickory_proto::op::Query;
    use hickory_proto::rr::rdata::A;

    use super::*;

    fn ask(zone: &mut Zone, name: &str, rtype: RecordType) -> Message {
        let mut request = Message::query();
        request.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
        zone.respond(&request)
    }

    #[test]
    fn case_insensitive_and_authoritative() {
        let mut zone = Zone::default();
        zone.set_records(
            "Host.Example.test",
            RecordType::A,
            vec![RData::A(A(Ipv4Addr::LOCALHOST))],
        );
        let response = ask(&mut zone, "hOST.example.TEST.", RecordType::A);
        assert!(response.metadata.authoritative);
        assert_eq!(response.metadata.response_code, ResponseCode::NoError);
        assert_eq!(response.answers.len(), 1);
        assert_eq!(response.answers[0].name.to_ascii(), "hOST.example.TEST.");
        assert_eq!(
            zone.queries(),
            vec![("host.example.test".to_owned(), "A".to_owned())]
        );
    }

    #[test]
    fn nodata_nxdomain_servfail() {
        let mut zone = Zone::default();
        zone.set_records("a.test", RecordType::A, vec![]);
        let nodata = ask(&mut zone, "a.test.", RecordType::MX);
        assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
        assert!(nodata.answers.is_empty());
        let unknown = ask(&mut zone, "b.test.", RecordType::A);
        assert_eq!(unknown.metadata.response_code, ResponseCode::NXDomain);
        zone.set_node("a.test", Node::ServFail);
        let failed = ask(&mut zone, "a.test.", RecordType::A);
        assert_eq!(failed.metadata.response_code, ResponseCode::ServFail);
        zone.set_node("a.test", Node::NxDomain);
        let gone = ask(&mut zone, "a.test.", RecordType::A);
        assert_eq!(gone.metadata.response_code, ResponseCode::NXDomain);
    }
}
