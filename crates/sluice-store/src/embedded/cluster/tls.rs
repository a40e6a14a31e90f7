//! TLS for the embedded cluster's nodes.

/// The certificate files of TLS cluster nodes (see [`EmbeddedCluster::start_tls`]).
#[derive(Clone, Debug)]
pub struct ServerTls {
    /// The nodes' certificate (also presented to each other) and its key, PEM.
    pub cert_file: std::path::PathBuf,
    pub key_file: std::path::PathBuf,
    /// The CA the nodes trust for each other's and clients' certificates.
    pub ca_file: std::path::PathBuf,
    /// `tls-auth-clients yes` instead of `optional`.
    pub require_client_certs: bool,
}

impl ServerTls {
    /// The `redis-server` arguments for a TLS port, bus and replication.
    pub(super) fn args(&self, tls_port: u16) -> Vec<String> {
        let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
        [
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            &path(&self.cert_file),
            "--tls-key-file",
            &path(&self.key_file),
            "--tls-ca-cert-file",
            &path(&self.ca_file),
            "--tls-auth-clients",
            if self.require_client_certs {
                "yes"
            } else {
                "optional"
            },
            "--tls-cluster",
            "yes",
            "--tls-replication",
            "yes",
        ]
        .map(str::to_string)
        .to_vec()
    }
}
