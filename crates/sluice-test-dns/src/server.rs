//! The UDP and TCP loops: decode with hickory-proto, ask the [`Zone`], encode.

use std::sync::{Arc, Mutex, PoisonError};

use hickory_proto::op::{Message, OpCode, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinSet;

use crate::zone::{EDNS_PAYLOAD, Zone};

pub(crate) type SharedZone = Arc<Mutex<Zone>>;

/// Which transport an answer leaves on: only UDP answers are size-limited.
#[derive(Clone, Copy)]
enum Transport {
    Udp,
    Tcp,
}

/// Answers one wire-format query; `None` when there is nothing sensible to
/// send back (not even a message ID to put in a FORMERR).
fn answer(zone: &SharedZone, packet: &[u8], transport: Transport) -> Option<Vec<u8>> {
    let response = match Message::from_vec(packet) {
        Ok(request) => {
            let response = zone
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .respond(&request);
            let limit = match transport {
                // RFC 6891 §6.2.5: never exceed what the client advertised,
                // nor what we advertise ourselves.
                Transport::Udp => request.max_payload().min(EDNS_PAYLOAD),
                Transport::Tcp => u16::MAX,
            };
            let bytes = response.to_vec().ok()?;
            if bytes.len() <= usize::from(limit) {
                return Some(bytes);
            }
            response.truncate()
        }
        Err(error) => {
            tracing::debug!(%error, "DnsFixture: undecodable query");
            let id = u16::from_be_bytes([*packet.first()?, *packet.get(1)?]);
            Message::error_msg(id, OpCode::Query, ResponseCode::FormErr)
        }
    };
    response.to_vec().ok()
}

/// Serves UDP until the task is aborted.
pub(crate) async fn serve_udp(socket: UdpSocket, zone: SharedZone) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let (len, peer) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(error) => {
                tracing::debug!(%error, "DnsFixture: UDP receive failed");
                continue;
            }
        };
        let Some(reply) = buf
            .get(..len)
            .and_then(|p| answer(&zone, p, Transport::Udp))
        else {
            continue;
        };
        if let Err(error) = socket.send_to(&reply, peer).await {
            tracing::debug!(%error, %peer, "DnsFixture: UDP send failed");
        }
    }
}

/// Serves TCP until the task is aborted; connections live in a [`JoinSet`]
/// owned by this task, so aborting it closes them too.
pub(crate) async fn serve_tcp(listener: TcpListener, zone: SharedZone) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, zone.clone()));
                }
                Err(error) => tracing::debug!(%error, "DnsFixture: TCP accept failed"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// RFC 1035 §4.2.2 framing: each message is preceded by its 16-bit length.
/// Several queries may share one connection (RFC 7766).
async fn serve_connection(mut stream: TcpStream, zone: SharedZone) {
    loop {
        let Ok(len) = stream.read_u16().await else {
            return;
        };
        let mut packet = vec![0u8; usize::from(len)];
        if stream.read_exact(&mut packet).await.is_err() {
            return;
        }
        let Some(reply) = answer(&zone, &packet, Transport::Tcp) else {
            return;
        };
        let Ok(reply_len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&reply_len.to_be_bytes());
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}
