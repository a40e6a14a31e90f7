//! Parsing of SMTP command lines (RFC 5321 section 4.1) into [`Command`].

/// A parsed command line; borrowed from the line buffer to avoid allocation.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command<'a> {
    Helo(&'a str),
    Ehlo(&'a str),
    Mail {
        path: &'a str,
        params: &'a str,
    },
    Rcpt {
        path: &'a str,
        params: &'a str,
    },
    Data,
    Rset,
    Noop,
    Vrfy,
    Help,
    Quit,
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954 section 4).
    Auth {
        mechanism: &'a str,
        initial: Option<&'a str>,
    },
    /// Known but deliberately unsupported (BDAT, EXPN, ...): 502.
    NotImplemented,
    /// Unrecognized verb: 500.
    Unknown,
    /// Recognized verb with malformed arguments: 501 with this text.
    Syntax(&'static str),
}

/// Parses one command line without its line ending.
pub(crate) fn parse(line: &str) -> Command<'_> {
    let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
    let is = |v: &str| verb.eq_ignore_ascii_case(v);
    if is("EHLO") || is("HELO") {
        let domain = rest.trim();
        if domain.is_empty() || domain.contains(' ') {
            return Command::Syntax("5.5.4 Syntax: EHLO/HELO domain");
        }
        return if is("EHLO") {
            Command::Ehlo(domain)
        } else {
            Command::Helo(domain)
        };
    }
    if is("MAIL") {
        return match strip_prefix_ci(rest, "FROM:").and_then(path_and_params) {
            Some((path, params)) => Command::Mail { path, params },
            None => Command::Syntax("5.5.4 Syntax: MAIL FROM:<address> [parameters]"),
        };
    }
    if is("RCPT") {
        return match strip_prefix_ci(rest, "TO:").and_then(path_and_params) {
            Some((path, params)) => Command::Rcpt { path, params },
            None => Command::Syntax("5.5.4 Syntax: RCPT TO:<address> [parameters]"),
        };
    }
    if is("AUTH") {
        let mut words = rest.split_ascii_whitespace();
        return match (words.next(), words.next(), words.next()) {
            (Some(mechanism), initial, None) => Command::Auth { mechanism, initial },
            _ => Command::Syntax("5.5.4 Syntax: AUTH mechanism [initial-response]"),
        };
    }
    let no_args = |cmd: Command<'static>| {
        if rest.trim().is_empty() {
            cmd
        } else {
            Command::Syntax("5.5.4 Syntax: no parameters allowed")
        }
    };
    match verb.to_ascii_uppercase().as_str() {
        "DATA" => no_args(Command::Data),
        "RSET" => no_args(Command::Rset),
        "QUIT" => no_args(Command::Quit),
        "STARTTLS" => no_args(Command::StartTls),
        "NOOP" => Command::Noop,
        "VRFY" => Command::Vrfy,
        "HELP" => Command::Help,
        "BDAT" | "EXPN" | "ETRN" | "TURN" => Command::NotImplemented,
        _ => Command::Unknown,
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Splits `<path> params` into the bare address (source route dropped) and
/// the parameter string. Tolerates spaces after the colon, as many clients
/// send them.
fn path_and_params(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start().strip_prefix('<')?;
    let end = s.find('>')?;
    let (inner, rest) = (&s[..end], &s[end + 1..]);
    if !rest.is_empty() && !rest.starts_with(' ') {
        return None;
    }
    let addr = if inner.starts_with('@') {
        inner.split_once(':')?.1
    } else {
        inner
    };
    if addr.contains(|c: char| c.is_whitespace() || c.is_control() || c == '<') {
        return None;
    }
    Some((addr, rest.trim()))
}

/// Splits a parameter string into `(KEYWORD, optional value)` pairs.
pub(crate) fn params(s: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    s.split_ascii_whitespace().map(|p| match p.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (p, None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mail_and_rcpt() {
        assert_eq!(
            parse("MAIL FROM:<a@b.c> SIZE=10 BODY=8BITMIME"),
            Command::Mail {
                path: "a@b.c",
                params: "SIZE=10 BODY=8BITMIME"
            }
        );
        assert_eq!(
            parse("mail from: <>"),
            Command::Mail {
                path: "",
                params: ""
            }
        );
        assert_eq!(
            parse("RCPT TO:<@relay.example:u@d.example>"),
            Command::Rcpt {
                path: "u@d.example",
                params: ""
            }
        );
        assert!(matches!(parse("MAIL FROM:a@b"), Command::Syntax(_)));
        assert!(matches!(parse("RCPT TO:<a@b>x"), Command::Syntax(_)));
        assert!(matches!(parse("RCPT <a@b>"), Command::Syntax(_)));
    }

    #[test]
    fn parses_simple_verbs() {
        assert_eq!(
            parse("ehlo client.example"),
            Command::Ehlo("client.example")
        );
        assert!(matches!(parse("EHLO"), Command::Syntax(_)));
        assert_eq!(parse("DATA"), Command::Data);
        assert!(matches!(parse("DATA x"), Command::Syntax(_)));
        assert_eq!(parse("noop whatever"), Command::Noop);
        assert_eq!(parse("STARTTLS"), Command::StartTls);
        assert_eq!(parse("BDAT 10"), Command::NotImplemented);
        assert_eq!(
            parse("AUTH PLAIN AGFwaWtleQBzZWNyZXQ="),
            Command::Auth {
                mechanism: "PLAIN",
                initial: Some("AGFwaWtleQBzZWNyZXQ=")
            }
        );
        assert_eq!(
            parse("auth login"),
            Command::Auth {
                mechanism: "login",
                initial: None
            }
        );
        assert!(matches!(parse("AUTH"), Command::Syntax(_)));
        assert!(matches!(parse("AUTH PLAIN a b"), Command::Syntax(_)));
        assert_eq!(parse("FOO"), Command::Unknown);
        assert_eq!(parse(""), Command::Unknown);
    }

    #[test]
    fn splits_params() {
        let p: Vec<_> = params(" SIZE=5  SMTPUTF8 ").collect();
        assert_eq!(p, vec![("SIZE", Some("5")), ("SMTPUTF8", None)]);
    }
}
