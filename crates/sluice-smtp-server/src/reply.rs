//! SMTP replies as produced by the session and by [`crate::SinkBehavior`] hooks.

/// One SMTP reply. Hooks return it so tests can script exactly what the
/// client sees, including "say nothing" ([`Reply::hang`]) and "say this, then
/// hang up" ([`Reply::closing`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Three-digit reply code (RFC 5321 section 4.2).
    pub code: u16,
    /// Reply text; each `'\n'`-separated line becomes its own reply line, so
    /// multi-line replies render as `250-...` continuation lines.
    pub text: String,
    hang: bool,
    close_after: bool,
}

impl Reply {
    /// A plain reply. Without an enhanced status code at the start of the
    /// text, the session adds one that fits the command (e.g. `2.1.5` for RCPT).
    pub fn new(code: u16, text: impl Into<String>) -> Self {
        Self {
            code,
            text: text.into(),
            hang: false,
            close_after: false,
        }
    }

    /// `250 Ok`; the session completes the enhanced code per command
    /// (`2.1.0` for MAIL, `2.1.5` for RCPT, `2.0.0` otherwise).
    pub fn ok() -> Self {
        Self::new(250, "Ok")
    }

    /// Say nothing and keep the TCP connection open until the sink shuts
    /// down, so clients' timeout handling can be tested.
    pub fn hang() -> Self {
        Self {
            code: 0,
            text: String::new(),
            hang: true,
            close_after: false,
        }
    }

    /// Send this reply, then close the connection (what a throttling or
    /// shutting-down server does). Any 421 reply closes the connection anyway.
    pub fn closing(code: u16, text: impl Into<String>) -> Self {
        Self {
            close_after: true,
            ..Self::new(code, text)
        }
    }

    pub(crate) fn is_hang(&self) -> bool {
        self.hang
    }

    pub(crate) fn closes(&self) -> bool {
        self.close_after || self.code == 421
    }

    pub(crate) fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// Prefixes every line lacking an enhanced status code (RFC 2034, which
    /// we advertise) with one: `success` for 2xx, `4.0.0`/`5.0.0` otherwise.
    pub(crate) fn with_enhanced(mut self, success: &str) -> Self {
        if self.hang {
            return self;
        }
        let default = match self.code / 100 {
            2 => success,
            4 => "4.0.0",
            5 => "5.0.0",
            _ => return self,
        };
        if self.text.split('\n').all(has_enhanced_code) {
            return self;
        }
        let mut text = String::with_capacity(self.text.len() + 8);
        for (i, line) in self.text.split('\n').enumerate() {
            if i > 0 {
                text.push('\n');
            }
            if !has_enhanced_code(line) {
                text.push_str(default);
                if !line.is_empty() {
                    text.push(' ');
                }
            }
            text.push_str(line);
        }
        self.text = text;
        self
    }

    /// Appends the wire form (`code[-| ]line\r\n` per line) to `out`.
    pub(crate) fn render(&self, out: &mut Vec<u8>) {
        let mut lines = self.text.split('\n').peekable();
        while let Some(line) = lines.next() {
            let sep = if lines.peek().is_some() { '-' } else { ' ' };
            let line = line.trim_end_matches('\r');
            out.extend_from_slice(format!("{:03}{sep}", self.code).as_bytes());
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// True if `line` starts with `class.subject.detail` followed by a space or end.
fn has_enhanced_code(line: &str) -> bool {
    let token = line.split(' ').next().unwrap_or_default();
    let mut parts = token.split('.');
    let class_ok = matches!(parts.next(), Some("2" | "4" | "5"));
    let rest: Vec<&str> = parts.collect();
    class_ok
        && rest.len() == 2
        && rest
            .iter()
            .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(r: &Reply) -> String {
        let mut out = Vec::new();
        r.render(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn renders_multi_line() {
        let r = Reply::new(250, "a\nb\nc");
        assert_eq!(wire(&r), "250-a\r\n250-b\r\n250 c\r\n");
    }

    #[test]
    fn adds_enhanced_codes_only_when_missing() {
        assert_eq!(
            wire(&Reply::ok().with_enhanced("2.1.5")),
            "250 2.1.5 Ok\r\n"
        );
        let r = Reply::new(550, "5.1.1 No such user").with_enhanced("2.1.5");
        assert_eq!(wire(&r), "550 5.1.1 No such user\r\n");
        let r = Reply::new(451, "later").with_enhanced("2.0.0");
        assert_eq!(wire(&r), "451 4.0.0 later\r\n");
    }

    #[test]
    fn closing_semantics() {
        assert!(Reply::new(421, "x").closes());
        assert!(Reply::closing(554, "x").closes());
        assert!(!Reply::new(451, "x").closes());
        assert!(Reply::hang().is_hang());
    }
}
