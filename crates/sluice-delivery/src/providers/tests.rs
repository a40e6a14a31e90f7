#![allow(clippy::unwrap_used)]
use super::*;

fn name(table: &ProviderTable, mx: &str) -> String {
    table.classify(mx, "example.test").name
}

#[test]
fn gmail_and_workspace_hosts() {
    let t = ProviderTable::builtin();
    for mx in [
        "gmail-smtp-in.l.google.com",
        "alt1.gmail-smtp-in.l.google.com",
        "aspmx.l.google.com",
        "alt1.aspmx.l.google.com",
        "smtp.google.com",
        "aspmx2.googlemail.com",
        "ASPMX.L.GOOGLE.COM.",
    ] {
        assert_eq!(name(&t, mx), "gmail", "{mx}");
    }
    let p = t.classify("aspmx.l.google.com", "acme.test");
    assert!(p.builtin);
    assert_eq!(p.limits, gmail().limits);
}

#[test]
fn outlook_hosts() {
    let t = ProviderTable::builtin();
    for mx in [
        "outlook-com.olc.protection.outlook.com",
        "hotmail-com.olc.protection.outlook.com",
        "eur.olc.protection.outlook.com",
        "acme-test.mail.protection.outlook.com",
        "mx1.hotmail.com",
    ] {
        assert_eq!(name(&t, mx), "outlook", "{mx}");
    }
}

#[test]
fn yahoo_and_aol_hosts() {
    let t = ProviderTable::builtin();
    for mx in [
        "mta5.am0.yahoodns.net",
        "mta7.am0.yahoodns.net",
        "mx-aol.mail.gm0.yahoodns.net",
        "mailin-01.mx.aol.com",
    ] {
        assert_eq!(name(&t, mx), "yahoo", "{mx}");
    }
}

#[test]
fn icloud_hosts() {
    let t = ProviderTable::builtin();
    for mx in [
        "mx01.mail.icloud.com",
        "mx02.mail.icloud.com",
        "mx1.mail.me.com",
    ] {
        assert_eq!(name(&t, mx), "icloud", "{mx}");
    }
}

#[test]
fn japanese_carrier_hosts() {
    let t = ProviderTable::builtin();
    assert_eq!(name(&t, "mfsmax.docomo.ne.jp"), "docomo");
    assert_eq!(name(&t, "mfsmax.docomo.ne.jp."), "docomo");
    assert_eq!(name(&t, "lsean.ezweb.ne.jp"), "au");
    assert_eq!(name(&t, "msmx.au.com"), "au");
    assert_eq!(name(&t, "mx.softbank.ne.jp"), "softbank");
    assert_eq!(name(&t, "mx.i.softbank.jp"), "softbank");
    assert_eq!(name(&t, "mx.t.vodafone.ne.jp"), "softbank");
}

#[test]
fn star_label_needs_whole_labels_and_is_anchored() {
    let t = ProviderTable::builtin();
    for mx in [
        "google.com",
        "evilgoogle.com",
        "google.com.evil.test",
        "aspmx.l.google.com.evil.test",
        "mx.evilgoogle.com",
        "docomo.ne.jp",
        "",
        ".",
        "a..google.com",
    ] {
        assert_eq!(name(&t, mx), "example.test", "{mx:?}");
    }
}

#[test]
fn unknown_hosts_fall_back_to_the_recipient_domain() {
    let t = ProviderTable::builtin();
    let p = t.classify("mx.acme.test", "Acme.TEST.");
    assert_eq!(
        p,
        Provider {
            name: "acme.test".into(),
            limits: t.default_limits().clone(),
            builtin: false,
        }
    );
    let custom = ProviderLimits {
        max_connections_per_ip: 1,
        messages_per_connection: 1,
        messages_per_minute_per_ip: 1,
        messages_per_hour_per_ip: 1,
    };
    let t = t.with_default_limits(custom.clone());
    assert_eq!(t.classify("mx.acme.test", "acme.test").limits, custom);
}

#[test]
fn label_globs_stay_within_one_label() {
    let p = Pattern::new("mx*.kddi.test");
    let m = |host: &str| p.matches(&host.split('.').collect::<Vec<_>>());
    assert!(m("mx.kddi.test"));
    assert!(m("mx12.kddi.test"));
    assert!(!m("mx1.a.kddi.test"));
    assert!(!m("amx1.kddi.test"));
    assert!(glob_label("a*b*c", "abc"));
    assert!(glob_label("a*b*c", "axxbyyc"));
    assert!(!glob_label("a*b*c", "axxbyy"));
    assert!(!glob_label("ab*ba", "aba"));
}

#[test]
fn star_label_in_the_middle() {
    let p = Pattern::new("mx.*.example.test");
    let m = |host: &str| p.matches(&host.split('.').collect::<Vec<_>>());
    assert!(m("mx.a.example.test"));
    assert!(m("mx.a.b.example.test"));
    assert!(!m("mx.example.test"));
}

fn limits(n: u32) -> ProviderLimits {
    ProviderLimits {
        max_connections_per_ip: 1,
        messages_per_connection: 1,
        messages_per_minute_per_ip: n,
        messages_per_hour_per_ip: n * 60,
    }
}

#[test]
fn configured_rules_come_first_and_replace_builtins_by_name() {
    let t = ProviderTable::with_overrides(vec![
        rule("Gmail", &["*.l.google.com"], limits(7)),
        rule("corp", &["*.corp-mx.test", "*.google.com"], limits(9)),
    ]);
    let gmail = t.classify("aspmx.l.google.com", "acme.test");
    assert_eq!((gmail.name.as_str(), gmail.builtin), ("Gmail", false));
    assert_eq!(gmail.limits, limits(7));
    // The built-in gmail rule is gone, so the next configured rule takes smtp.google.com.
    assert_eq!(name(&t, "smtp.google.com"), "corp");
    assert_eq!(name(&t, "mx.corp-mx.test"), "corp");
    // Built-ins that were not replaced still apply, after the configured ones.
    assert_eq!(name(&t, "mta5.am0.yahoodns.net"), "yahoo");
    let order: Vec<_> = t.rules().map(|(r, b)| (r.name.clone(), b)).collect();
    assert_eq!(order[0], ("Gmail".into(), false));
    assert_eq!(order[1], ("corp".into(), false));
    assert!(order[2..].iter().all(|(_, builtin)| *builtin));
    assert!(!order.iter().any(|(n, _)| n == "gmail"));
}

#[test]
fn validation_refuses_what_would_silently_misbehave() {
    let ok = rule("corp", &["*.corp.test"], limits(5));
    assert!(ok.validate().is_ok());
    let cases = [
        (rule(" ", &["*.a.test"], limits(5)), "empty name"),
        (rule("x", &[], limits(5)), "no mx_patterns"),
        (rule("x", &["*"], limits(5)), "matches every host"),
        (rule("x", &["*.*"], limits(5)), "matches every host"),
        (rule("x", &["a..test"], limits(5)), "empty label"),
        (rule("x", &["mx.test/"], limits(5)), "only letters"),
        (rule("x", &["*.a.test"], limits(0)), "must be positive"),
    ];
    for (rule, expected) in cases {
        let err = rule.validate().unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
    }
    let dup =
        ProviderTable::try_with_overrides(vec![ok.clone(), rule("CORP", &["*.b.test"], limits(1))]);
    assert!(matches!(dup, Err(ProviderRuleError::DuplicateName { .. })));
    assert!(ProviderTable::try_with_overrides(vec![ok]).is_ok());
}

#[test]
fn unvalidated_bad_patterns_are_dropped_not_catch_all() {
    let t = ProviderTable::with_overrides(vec![rule("all", &["*", "a..test"], limits(5))]);
    assert_eq!(name(&t, "mx.acme.test"), "example.test");
    assert_eq!(name(&t, "a..test"), "example.test");
    assert_eq!(name(&t, "aspmx.l.google.com"), "gmail");
}

#[test]
fn builtin_rules_are_valid_and_uniquely_named() {
    assert!(ProviderTable::try_with_overrides(builtin_rules()).is_ok());
    assert!(default_limits().messages_per_minute_per_ip > 0);
}

#[test]
fn rules_deserialize_from_flat_config_entries() {
    let json = serde_json::json!({
        "name": "corp",
        "mx_patterns": ["*.corp.test"],
        "max_connections_per_ip": 4,
        "messages_per_connection": 50,
        "messages_per_minute_per_ip": 100,
        "messages_per_hour_per_ip": 2000
    });
    let parsed: ProviderRule = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(parsed.limits.max_connections_per_ip, 4);
    assert_eq!(serde_json::to_value(&parsed).unwrap(), json);
}

#[test]
fn limits_left_out_of_a_rule_take_the_defaults() {
    let json = serde_json::json!({
        "name": "corp",
        "mx_patterns": ["*.corp.test"],
        "messages_per_hour_per_ip": 500
    });
    let parsed: ProviderRule = serde_json::from_value(json).unwrap();
    assert_eq!(
        parsed.limits,
        ProviderLimits {
            messages_per_hour_per_ip: 500,
            ..default_limits()
        }
    );
    assert!(ProviderTable::try_with_overrides(vec![parsed]).is_ok());
}
