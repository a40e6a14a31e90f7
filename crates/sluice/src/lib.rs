//! The `sluice` binary's library half: configuration, wiring of the roles (API,
//! delivery worker) and the embedded `dev` environment. Integration tests start the
//! same roles in-process through [`run::start`].

pub mod config;
pub mod dev;
pub mod http_server;
pub mod inbound;
pub mod run;
pub mod submission;
