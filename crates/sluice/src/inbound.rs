//! The inbound SMTP listener of the bounce domain, as the binary wires it: the SMTP
//! server's limits from `[inbound]`, accepting mail only for the bounce domain (no
//! open relay). What a received report turns into — events, unsubscribes, whom a
//! report may affect — is `sluice_events::inbound`.

use std::sync::Arc;

use sluice_events::inbound::BounceHandler;

use crate::config::InboundLimits;

/// The listener's SMTP server: the bounce domain only, `bounces+` local parts (plus
/// postmaster and abuse), and the limits of `[inbound]`.
pub fn listener_config(
    listen: std::net::SocketAddr,
    hostname: &str,
    limits: InboundLimits,
    handler: BounceHandler,
) -> sluice_smtp_server::SinkConfig {
    let domain = handler.bounce_domain().to_string();
    sluice_smtp_server::SinkConfig {
        listen,
        hostname: hostname.to_string(),
        outbox: None,
        keep_in_memory: false,
        max_message_bytes: limits.max_message_bytes,
        max_recipients: 20,
        max_connections: limits.max_connections,
        max_connections_per_ip: Some(limits.max_connections_per_ip),
        idle_timeout: limits.command_timeout,
        max_session: Some(limits.max_session),
        behavior: Arc::new(sluice_smtp_server::RecipientDomains::new(
            [domain],
            "bounces+",
            Arc::new(handler),
        )),
        ..Default::default()
    }
}
