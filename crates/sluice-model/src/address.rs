//! Addresses that can only exist once parsed: `EmailAddress`, `Mailbox` and `DomainName`.
//!
//! The grammar accepted is the practical subset of RFC 5321/5322 that real senders use:
//! dot-atom local parts (UTF-8 allowed per RFC 6531), hostname domains, and an optional
//! display name. Quoted local parts and address literals are refused: they are a
//! classic vector for parser confusion and no transactional sender needs them.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("must not be empty")]
    Empty,
    #[error("must not contain control characters (CR, LF, NUL, …)")]
    ControlCharacter,
    #[error("must contain exactly one '@' between a local part and a domain")]
    MissingAt,
    #[error("local part is longer than 64 bytes")]
    LocalPartTooLong,
    #[error(
        "local part contains '{0}', which is not allowed (quoted local parts are not supported)"
    )]
    LocalPartCharacter(char),
    #[error("local part must not start or end with a dot or contain two dots in a row")]
    LocalPartDots,
    #[error("domain is longer than 253 bytes")]
    DomainTooLong,
    #[error("domain must have at least two labels, like example.com")]
    DomainNotQualified,
    #[error("domain label '{0}' is invalid (letters, digits and inner hyphens, at most 63 bytes)")]
    DomainLabel(String),
    #[error("domain must be ASCII (use its punycode A-label form, xn--…)")]
    DomainNotAscii,
    #[error("address is longer than 254 bytes")]
    AddressTooLong,
    #[error("display name is longer than 256 characters")]
    NameTooLong,
    #[error("unbalanced angle brackets: use \"Name <user@example.com>\" or \"user@example.com\"")]
    Brackets,
    #[error("unterminated quoted display name")]
    Quote,
}

fn reject_controls(value: &str) -> Result<(), AddressError> {
    if value.chars().any(char::is_control) {
        Err(AddressError::ControlCharacter)
    } else {
        Ok(())
    }
}

/// A lower-case, fully qualified, ASCII host name (a sending domain, a bounce domain).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DomainName(String);

impl DomainName {
    pub fn parse(value: &str) -> Result<Self, AddressError> {
        if !value.is_ascii() {
            return Err(AddressError::DomainNotAscii);
        }
        check_domain(value)?;
        Ok(Self(value.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for DomainName {
    type Error = AddressError;
    fn try_from(value: String) -> Result<Self, AddressError> {
        Self::parse(&value)
    }
}

impl From<DomainName> for String {
    fn from(value: DomainName) -> String {
        value.0
    }
}

/// Checks host-name syntax; non-ASCII letters are allowed only by callers that permit
/// internationalised domains (RFC 6531 addresses).
fn check_domain(value: &str) -> Result<(), AddressError> {
    if value.is_empty() {
        return Err(AddressError::Empty);
    }
    reject_controls(value)?;
    let value = value.strip_suffix('.').unwrap_or(value);
    if value.len() > 253 {
        return Err(AddressError::DomainTooLong);
    }
    let labels: Vec<&str> = value.split('.').collect();
    if labels.len() < 2 {
        return Err(AddressError::DomainNotQualified);
    }
    for label in &labels {
        let valid = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| {
                c.is_ascii_alphanumeric() || c == '-' || (!c.is_ascii() && c.is_alphanumeric())
            });
        if !valid {
            return Err(AddressError::DomainLabel((*label).to_string()));
        }
    }
    let tld = labels.last().copied().unwrap_or_default();
    if tld.chars().all(|c| c.is_ascii_digit()) {
        return Err(AddressError::DomainLabel(tld.to_string()));
    }
    Ok(())
}

/// `local@domain`, as used in an SMTP envelope.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress {
    local: String,
    domain: String,
}

impl EmailAddress {
    pub fn parse(value: &str) -> Result<Self, AddressError> {
        if value.is_empty() {
            return Err(AddressError::Empty);
        }
        reject_controls(value)?;
        if value.len() > 254 {
            return Err(AddressError::AddressTooLong);
        }
        let (local, domain) = value.rsplit_once('@').ok_or(AddressError::MissingAt)?;
        if local.is_empty() || domain.is_empty() {
            return Err(AddressError::MissingAt);
        }
        if local.len() > 64 {
            return Err(AddressError::LocalPartTooLong);
        }
        if let Some(bad) = local.chars().find(|c| !is_atext(*c) && *c != '.') {
            return Err(AddressError::LocalPartCharacter(bad));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(AddressError::LocalPartDots);
        }
        check_domain(domain)?;
        let domain = domain.strip_suffix('.').unwrap_or(domain).to_lowercase();
        Ok(Self {
            local: local.to_string(),
            domain,
        })
    }

    pub fn local_part(&self) -> &str {
        &self.local
    }

    /// The domain, lower-cased.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// True when the address needs SMTPUTF8 (RFC 6531) to be carried.
    pub fn is_internationalized(&self) -> bool {
        !self.local.is_ascii() || !self.domain.is_ascii()
    }
}

/// RFC 5322 `atext`, extended with any non-ASCII character (RFC 6532).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!#$%&'*+-/=?^_`{|}~".contains(c)
        || (!c.is_ascii() && !c.is_control() && !c.is_whitespace())
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = AddressError;
    fn try_from(value: String) -> Result<Self, AddressError> {
        Self::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> String {
        value.to_string()
    }
}

/// A display name and an address: `"Acme <noreply@acme.test>"` or `noreply@acme.test`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: EmailAddress,
}

impl Mailbox {
    pub fn parse(value: &str) -> Result<Self, AddressError> {
        reject_controls(value)?;
        let value = value.trim();
        if value.is_empty() {
            return Err(AddressError::Empty);
        }
        let Some(open) = value.rfind('<') else {
            if value.contains('>') {
                return Err(AddressError::Brackets);
            }
            return Ok(Self {
                name: None,
                address: EmailAddress::parse(value)?,
            });
        };
        let inner = value[open + 1..]
            .strip_suffix('>')
            .ok_or(AddressError::Brackets)?;
        if inner.contains(['<', '>']) {
            return Err(AddressError::Brackets);
        }
        let address = EmailAddress::parse(inner.trim())?;
        let raw_name = value[..open].trim();
        if !raw_name.starts_with('"') && raw_name.contains(['<', '>']) {
            return Err(AddressError::Brackets);
        }
        let name = unquote(raw_name)?;
        if name.chars().count() > 256 {
            return Err(AddressError::NameTooLong);
        }
        Ok(Self {
            name: (!name.is_empty()).then_some(name),
            address,
        })
    }
}

/// Removes the quotes (and backslash escapes) of a quoted display name.
fn unquote(name: &str) -> Result<String, AddressError> {
    let Some(quoted) = name.strip_prefix('"') else {
        return Ok(name.to_string());
    };
    let body = quoted.strip_suffix('"').ok_or(AddressError::Quote)?;
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().ok_or(AddressError::Quote)?),
            '"' => return Err(AddressError::Quote),
            c => out.push(c),
        }
    }
    Ok(out)
}

impl fmt::Display for Mailbox {
    /// The human form used in API responses (not a header encoding: MIME building
    /// applies RFC 2047 where needed).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(
                f,
                "\"{}\" <{}>",
                name.replace('\\', "\\\\").replace('"', "\\\""),
                self.address
            ),
            None => write!(f, "{}", self.address),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bare_and_named_mailboxes() {
        let bare = Mailbox::parse("noreply@Acme.TEST").expect("bare");
        assert_eq!(bare.name, None);
        assert_eq!(bare.address.to_string(), "noreply@acme.test");

        let named = Mailbox::parse("Acme Support <support@acme.test>").expect("named");
        assert_eq!(named.name.as_deref(), Some("Acme Support"));
        assert_eq!(named.address.domain(), "acme.test");

        let quoted = Mailbox::parse(r#""Doe, \"JD\" John" <jd@acme.test>"#).expect("quoted");
        assert_eq!(quoted.name.as_deref(), Some(r#"Doe, "JD" John"#));
    }

    #[test]
    fn accepts_internationalized_addresses() {
        let mailbox = Mailbox::parse("Jörg <jörg@bücher.example>").expect("utf8");
        assert!(mailbox.address.is_internationalized());
        assert!(
            !EmailAddress::parse("a@b.example")
                .expect("ascii")
                .is_internationalized()
        );
    }

    #[test]
    fn refuses_header_injection_and_garbage() {
        for bad in [
            "a@b.test\r\nBcc: victim@x.test",
            "Name\n <a@b.test>",
            "a@b.test\0",
            "no-at-sign.test",
            "a@@b.test",
            "@b.test",
            "a@",
            "a@localhost",
            "a@b..test",
            "a@-b.test",
            "a@b.123",
            ".a@b.test",
            "a..b@b.test",
            "a b@b.test",
            "\"quoted\"@b.test",
            "Name <a@b.test",
            "Name a@b.test>",
            "<a@b.test> <c@d.test>",
            "",
            "   ",
        ] {
            assert!(Mailbox::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(
            Mailbox::parse("a@b.test\r\n"),
            Err(AddressError::ControlCharacter)
        );
    }

    #[test]
    fn enforces_length_limits() {
        let local = "a".repeat(65);
        assert_eq!(
            EmailAddress::parse(&format!("{local}@b.test")),
            Err(AddressError::LocalPartTooLong)
        );
        let label = "a".repeat(64);
        assert!(matches!(
            EmailAddress::parse(&format!("x@{label}.test")),
            Err(AddressError::DomainLabel(_))
        ));
    }

    #[test]
    fn domain_names_are_ascii_lowercase() {
        assert_eq!(
            DomainName::parse("Acme.TEST").expect("ok").as_str(),
            "acme.test"
        );
        assert_eq!(
            DomainName::parse("bücher.example"),
            Err(AddressError::DomainNotAscii)
        );
        assert!(DomainName::parse("xn--bcher-kva.example").is_ok());
    }

    #[test]
    fn display_quotes_names() {
        let mailbox = Mailbox::parse(r#""A \"B\"" <a@b.test>"#).expect("ok");
        assert_eq!(mailbox.to_string(), r#""A \"B\"" <a@b.test>"#);
        assert_eq!(
            Mailbox::parse(&mailbox.to_string()).expect("round trip"),
            mailbox
        );
    }
}
