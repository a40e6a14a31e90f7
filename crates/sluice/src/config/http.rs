//! `[http]` (`SLUICE_HTTP_<KEY>`): how long the HTTP listeners wait for slow clients
//! and how many connections they hold (see [`crate::http_server`]).

use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};
use sluice_model::setting::positive;

use super::Config;
use super::keys::refuse;
use crate::http_server::HttpLimits;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// A request's whole head (request line and headers) must arrive within this,
    /// counted from its first byte (or from the connection's opening, for the first).
    #[serde(with = "sluice_model::duration")]
    pub header_read_timeout: Duration,
    /// A request, body upload included, must be answered within this; past it the
    /// client gets 408 and the connection is closed.
    #[serde(with = "sluice_model::duration")]
    pub request_timeout: Duration,
    /// An idle keep-alive connection (nothing in flight, nothing received) is closed
    /// after this. Keep it above a load balancer's own idle timeout.
    #[serde(with = "sluice_model::duration")]
    pub keep_alive_timeout: Duration,
    /// Open connections per listener; further clients wait in the kernel's accept
    /// backlog until one closes.
    pub max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(75),
            max_connections: 4096,
        }
    }
}

impl Config {
    /// The HTTP listeners' limits, validated (errors name the key and the variable).
    pub fn http_limits(&self) -> anyhow::Result<HttpLimits> {
        let h = &self.http;
        let wait =
            |key: &str, value: Duration| positive(key, value).map_err(|e| refuse(e.within("http")));
        if h.max_connections == 0 || h.max_connections > 1_000_000 {
            bail!(
                "invalid configuration: `http.max_connections` (SLUICE_HTTP_MAX_CONNECTIONS) must be 1 to 1000000, got {}",
                h.max_connections
            );
        }
        Ok(HttpLimits {
            header_read_timeout: wait("header_read_timeout", h.header_read_timeout)?,
            request_timeout: wait("request_timeout", h.request_timeout)?,
            keep_alive_timeout: wait("keep_alive_timeout", h.keep_alive_timeout)?,
            max_connections: h.max_connections,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)]
    fn limits_come_from_the_environment_and_errors_name_the_key() {
        figment::Jail::expect_with(|jail| {
            let limits = Config::load(None).unwrap().http_limits().unwrap();
            assert_eq!(limits.header_read_timeout, Duration::from_secs(10));
            assert_eq!(limits.max_connections, 4096);

            jail.set_env("SLUICE_HTTP_HEADER_READ_TIMEOUT", "3s");
            jail.set_env("SLUICE_HTTP_MAX_CONNECTIONS", "20");
            let limits = Config::load(None).unwrap().http_limits().unwrap();
            assert_eq!(limits.header_read_timeout, Duration::from_secs(3));
            assert_eq!(limits.max_connections, 20);

            jail.set_env("SLUICE_HTTP_KEEP_ALIVE_TIMEOUT", "0s");
            let error = format!("{:#}", Config::load(None).unwrap_err());
            assert!(
                error.contains("http.keep_alive_timeout")
                    && error.contains("SLUICE_HTTP_KEEP_ALIVE_TIMEOUT"),
                "{error}"
            );
            Ok(())
        });
    }
}
