//! One spelling for domain names, so that configuration, DNS answers and
//! recipient addresses compare equal whatever case, trailing dot or Unicode
//! form they arrived in.

use hickory_resolver::proto::rr::Name;

/// Parses a domain into the fully qualified, lower-case, IDNA A-label form
/// DNS is queried with. Being fully qualified is what keeps the resolver from
/// trying search domains (`example.com.corp.internal.`) first.
///
/// `None` for the empty name, the root, address literals (`[192.0.2.1]`) and
/// anything else that is not a domain name.
pub(super) fn to_fqdn(domain: &str) -> Option<Name> {
    let trimmed = domain.strip_suffix('.').unwrap_or(domain);
    if trimmed.is_empty() || trimmed.starts_with('[') {
        return None;
    }
    let mut name = Name::from_utf8(trimmed).ok()?.to_lowercase();
    name.set_fqdn(true);
    Some(name)
}

/// The form shown and compared: lower-case A-labels, no trailing dot.
pub(super) fn display(name: &Name) -> String {
    let ascii = name.to_lowercase().to_ascii();
    match ascii.strip_suffix('.') {
        Some(stripped) => stripped.to_owned(),
        None => ascii,
    }
}

/// [`to_fqdn`] then [`display`].
pub(super) fn normalize(domain: &str) -> Option<String> {
    to_fqdn(domain).map(|name| display(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spelling() {
        assert_eq!(normalize("Example.COM."), Some("example.com".to_owned()));
        assert_eq!(
            normalize("Bücher.example"),
            Some("xn--bcher-kva.example".to_owned())
        );
        assert_eq!(normalize(""), None);
        assert_eq!(normalize("."), None);
        assert_eq!(normalize("[192.0.2.1]"), None);
        assert!(to_fqdn("example.com").is_some_and(|n| n.is_fqdn()));
    }
}
