#![allow(clippy::unwrap_used)]

use std::time::Duration;

use super::*;

#[test]
#[allow(clippy::result_large_err)] // figment's Jail API returns its own large error type.
fn environment_overrides_file_and_errors_name_the_key() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "s.toml",
            "workers = 8\nmax_message_bytes = 2000\n[delivery]\nmax_connections = 3\n",
        )?;
        jail.set_env("SLUICE_WORKERS", "12");
        jail.set_env("SLUICE_TEST_PYTHON", "/usr/bin/python3");
        jail.set_env("SLUICE_DELIVERY_RECLAIM_IDLE", "2s");
        let config = Config::load(Some(Path::new("s.toml"))).unwrap();
        assert_eq!(config.workers, 12);
        assert_eq!(config.max_message_bytes, 2000);
        assert_eq!(config.delivery.max_connections, 3);
        assert_eq!(config.delivery.reclaim_idle, Duration::from_secs(2));

        jail.set_env("SLUICE_WORKERS", "lots");
        let error = Config::load(Some(Path::new("s.toml")))
            .unwrap_err()
            .to_string()
            .to_lowercase();
        assert!(
            error.contains("workers") && error.contains("sluice_"),
            "{error}"
        );

        jail.set_env("SLUICE_WORKERS", "4");
        jail.set_env("SLUICE_NO_SUCH_KEY", "x");
        let error = Config::load(Some(Path::new("s.toml")))
            .unwrap_err()
            .to_string()
            .to_lowercase();
        assert!(error.contains("no_such_key"), "{error}");
        Ok(())
    });
}

#[test]
#[allow(clippy::result_large_err)]
fn the_transactional_reserve_is_checked_against_the_workers() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("SLUICE_WORKERS", "16");
        let config = Config::load(None).unwrap();
        assert_eq!(config.worker_config().unwrap().transactional_reserve, 4);
        jail.set_env("SLUICE_DELIVERY_TRANSACTIONAL_RESERVE", "6");
        jail.set_env("SLUICE_DELIVERY_TRANSACTIONAL_CONNECTIONS", "2");
        let config = Config::load(None).unwrap();
        let worker = config.worker_config().unwrap();
        assert_eq!(worker.transactional_reserve, 6);
        assert_eq!(worker.reserved_connections, 2);
        assert_eq!(config.pool_config().reserved_per_target, 2);
        jail.set_env("SLUICE_DELIVERY_TRANSACTIONAL_RESERVE", "16");
        let error = Config::load(None).unwrap_err().to_string();
        assert!(
            error.contains(
                "`delivery.transactional_reserve` (SLUICE_DELIVERY_TRANSACTIONAL_RESERVE) must be less than `workers` (16)"
            ),
            "{error}"
        );
        Ok(())
    });
}

#[test]
#[allow(clippy::result_large_err)]
fn jwt_settings_come_from_the_environment() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("SLUICE_JWT_ALGORITHM", "HS256");
        jail.set_env("SLUICE_JWT_SECRET", "0123456789abcdef0123456789abcdef");
        jail.set_env("SLUICE_JWT_ISSUER", "https://idp.test");
        jail.set_env("SLUICE_JWT_AUDIENCE", "sluice-admin");
        let config = Config::load(None).unwrap();
        assert!(config.admin_jwt_verifier().unwrap().is_some());
        jail.set_env("SLUICE_JWT_ALGORITHM", "RS256");
        jail.set_env("SLUICE_JWT_PUBLIC_KEY", "/nonexistent/key.pem");
        let error = Config::load(None).unwrap_err().to_string();
        assert!(error.contains("SLUICE_JWT_PUBLIC_KEY"), "{error}");
        Ok(())
    });
}

#[test]
fn pools_are_validated_with_the_key_named() {
    let mut config = Config::default();
    config.delivery.default_pool = Some("missing".into());
    let error = format!("{:#}", config.validate().unwrap_err());
    assert!(
        error.contains("delivery.pools") && error.contains("missing"),
        "{error}"
    );

    config.delivery.pools = vec![IpPoolConfig {
        name: "missing".into(),
        sources: vec!["not-an-ip".into()],
        warmup: None,
    }];
    let error = format!("{:#}", config.validate().unwrap_err());
    assert!(error.contains("not-an-ip"), "{error}");

    config.delivery.pools[0].sources = vec!["127.0.0.2".into()];
    config
        .delivery
        .stream_pools
        .insert("bulk".into(), "missing".into());
    let pools = config.delivery.pools(&config.hostname).unwrap();
    let stream_pools = config.delivery.stream_pools(&pools).unwrap();
    assert_eq!(stream_pools.len(), 2, "both streams use a pool");
    config
        .delivery
        .stream_pools
        .insert("urgent".into(), "missing".into());
    assert!(config.validate().is_err());
}

#[test]
#[allow(clippy::result_large_err)]
fn a_bad_duration_names_its_key() {
    // From the environment: the key and its variable are named.
    figment::Jail::expect_with(|jail| {
        jail.set_env("SLUICE_DELIVERY_RECLAIM_IDLE", "soon");
        let error = format!("{:#}", Config::load(None).unwrap_err());
        assert!(
            error.contains("`delivery.reclaim_idle` (SLUICE_DELIVERY_RECLAIM_IDLE)"),
            "{error}"
        );
        jail.set_env("SLUICE_DELIVERY_RECLAIM_IDLE", "5m");

        jail.set_env("SLUICE_WEBHOOKS_DISABLE_AFTER", "2 days");
        let error = format!("{:#}", Config::load(None).unwrap_err());
        assert!(
            error.contains("`webhooks.disable_after` (SLUICE_WEBHOOKS_DISABLE_AFTER)")
                && error.contains("2 days"),
            "{error}"
        );
        jail.set_env("SLUICE_WEBHOOKS_DISABLE_AFTER", "2d");
        jail.set_env("SLUICE_RETENTION", "12h");
        let error = format!("{:#}", Config::load(None).unwrap_err());
        assert!(
            error.contains("`retention` (SLUICE_RETENTION)")
                && error.contains("`delivery.max_age` (SLUICE_DELIVERY_MAX_AGE)"),
            "{error}"
        );
        Ok(())
    });
}

/// A `[[delivery.providers]]` entry may give only `name`, `mx_patterns` and the
/// limits it changes; the rest take the defaults (those of unknown destinations).
#[test]
#[allow(clippy::result_large_err)]
fn a_provider_rule_with_one_limit_starts_with_the_defaults_for_the_rest() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "s.toml",
            r#"
[[delivery.providers]]
name = "corp"
mx_patterns = ["*.corp.test"]
messages_per_hour_per_ip = 500

[[delivery.providers]]
name = "gmail"
mx_patterns = ["*.google.com"]
max_connections_per_ip = 1
messages_per_connection = 5
messages_per_minute_per_ip = 10
"#,
        )?;
        let config = Config::load(Some(Path::new("s.toml"))).unwrap();
        let worker = config.worker_config().unwrap();
        let defaults = sluice_delivery::providers::ProviderLimits::default();
        let corp = worker.providers.classify("mx.corp.test", "corp.test");
        assert_eq!(corp.name, "corp");
        assert_eq!(
            corp.limits,
            sluice_delivery::providers::ProviderLimits {
                messages_per_hour_per_ip: 500,
                ..defaults.clone()
            }
        );
        let gmail = worker.providers.classify("aspmx.l.google.com", "x.test");
        assert_eq!(gmail.limits.max_connections_per_ip, 1);
        assert_eq!(
            gmail.limits.messages_per_hour_per_ip,
            defaults.messages_per_hour_per_ip
        );
        let view = config.delivery_view().unwrap();
        assert_eq!(view.providers[0].messages_per_hour_per_ip, 500);

        jail.create_file(
            "s.toml",
            "[[delivery.providers]]\nname = \"corp\"\nmx_patterns = []\n",
        )?;
        let error = format!("{:#}", Config::load(Some(Path::new("s.toml"))).unwrap_err());
        assert!(
            error.contains("`delivery.providers`") && error.contains("no mx_patterns"),
            "{error}"
        );
        Ok(())
    });
}

#[test]
#[allow(clippy::result_large_err)]
fn blocklists_and_the_operator_webhook_come_from_the_environment() {
    figment::Jail::expect_with(|jail| {
        jail.set_env(
            "SLUICE_DELIVERY_DNSBL",
            r#"[{zone="zen.spamhaus.org", listed=["127.0.0.2"]}, {zone="bl.spamcop.net", providers=["gmail"]}]"#,
        );
        jail.set_env("SLUICE_DELIVERY_DNSBL_INTERVAL", "10m");
        jail.set_env(
            "SLUICE_DELIVERY_OPERATOR_WEBHOOK_URL",
            "http://10.0.0.5/hook",
        );
        let config = Config::load(None).unwrap();
        let dnsbl = config.worker_config().unwrap().dnsbl;
        assert_eq!(dnsbl.interval, Duration::from_secs(600));
        assert_eq!(dnsbl.zones.len(), 2);
        assert_eq!(dnsbl.zones[1].providers, Some(vec!["gmail".to_string()]));
        assert_eq!(
            config.delivery.operator_webhook().unwrap(),
            Some(("http://10.0.0.5/hook".to_string(), None))
        );
        jail.set_env(
            "SLUICE_DELIVERY_DNSBL",
            r#"[{zone="zen.test", providers=["nobody"]}]"#,
        );
        let error = Config::load(None).unwrap_err().to_string();
        assert!(
            error.contains(
                "`delivery.dnsbl` (SLUICE_DELIVERY_DNSBL) zone `zen.test`: provider `nobody`"
            ),
            "{error}"
        );
        jail.set_env("SLUICE_DELIVERY_DNSBL", "[]");
        jail.set_env("SLUICE_DELIVERY_DNSBL_INTERVAL", "0s");
        let error = Config::load(None).unwrap_err().to_string();
        assert!(
            error.contains(
                "`delivery.dnsbl_interval` (SLUICE_DELIVERY_DNSBL_INTERVAL) must be more than zero"
            ),
            "{error}"
        );
        Ok(())
    });
}

#[test]
#[allow(clippy::result_large_err)]
fn redis_tls_files_are_read_at_start_and_refused_with_their_key_named() {
    let fixture = |name: &str| {
        format!(
            "{}/../../tests/fixtures/redis_tls/{name}",
            env!("CARGO_MANIFEST_DIR")
        )
    };
    figment::Jail::expect_with(|jail| {
        jail.set_env(
            "SLUICE_REDIS_URL",
            "rediss+cluster://10.0.0.1:6379,10.0.0.2:6379",
        );
        jail.set_env("SLUICE_REDIS_CA_FILE", fixture("ca.pem"));
        jail.set_env("SLUICE_REDIS_CLIENT_CERT", fixture("client.pem"));
        jail.set_env("SLUICE_REDIS_CLIENT_KEY", fixture("client.key"));
        let config = Config::load(None).unwrap();
        let tls = config.store_options().unwrap().tls.unwrap();
        assert_eq!(tls.ca.unwrap(), std::fs::read(fixture("ca.pem")).unwrap());
        assert!(tls.client.is_some());

        let refused = |needle: &str| {
            let error = Config::load(None).unwrap_err().to_string();
            assert!(error.contains(needle), "{error}");
        };
        // A certificate file that is not there.
        jail.set_env("SLUICE_REDIS_CLIENT_CERT", fixture("nothing-here.pem"));
        refused("`redis_client_cert` (SLUICE_REDIS_CLIENT_CERT)");
        // A key where the CA should be.
        jail.set_env("SLUICE_REDIS_CLIENT_CERT", fixture("client.pem"));
        jail.set_env("SLUICE_REDIS_CA_FILE", fixture("client.key"));
        refused("`redis_ca_file` (SLUICE_REDIS_CA_FILE)");
        jail.set_env("SLUICE_REDIS_CA_FILE", fixture("ca.pem"));
        // TLS files with a plain URL: they would be ignored, so they are refused.
        jail.set_env("SLUICE_REDIS_URL", "redis://127.0.0.1:6379/");
        refused("must start with rediss:// or rediss+cluster://");
        Ok(())
    });
}
