//! The mail transaction: MAIL, RCPT and DATA, with the behavior's hooks deciding
//! the replies and the sink recording what it accepted.

use std::io;
use std::time::SystemTime;

use super::{Flow, Session, Txn, next_wait};
use crate::command;
use crate::shared::write_outbox;
use crate::wire::read_body;
use crate::{ReceivedMessage, Reply};

impl Session {
    pub(super) async fn mail(&mut self, from: &str, params: &str) -> Flow {
        if self.peer.helo.is_none() {
            return self.error(503, "5.5.1 Send EHLO/HELO first");
        }
        if self.shared.behavior.requires_auth() && self.peer.auth.is_none() {
            return self.error(530, "5.7.0 Authentication required");
        }
        if self.txn.is_some() {
            return self.error(503, "5.5.1 Nested MAIL command");
        }
        // An empty path is the null sender of DSNs and reports (RFC 5321
        // section 4.5.5): the bounce listener lives on those.
        if !from.is_empty() && !from.contains('@') {
            return self.error(501, "5.1.7 Bad sender address syntax");
        }
        for (key, value) in command::params(params) {
            if key.eq_ignore_ascii_case("SIZE") {
                match value.and_then(|v| v.parse::<u64>().ok()) {
                    None => return self.error(501, "5.5.4 Invalid SIZE parameter"),
                    Some(size) if size > self.shared.max_message_bytes as u64 => {
                        return self.reply(552, "5.3.4 Message size exceeds fixed limit");
                    }
                    Some(_) => {}
                }
            } else if key.eq_ignore_ascii_case("BODY") {
                let known = value.is_some_and(|v| {
                    v.eq_ignore_ascii_case("7BIT") || v.eq_ignore_ascii_case("8BITMIME")
                });
                if !known {
                    return self.error(501, "5.5.4 Unsupported BODY type");
                }
            } else if key.eq_ignore_ascii_case("SMTPUTF8") && value.is_none() {
                // Accepted; addresses and headers may be UTF-8 either way.
            } else {
                return self.error(555, "5.5.4 Unsupported MAIL parameter");
            }
        }
        let reply = self
            .shared
            .behavior
            .sender(&self.peer, from)
            .await
            .with_enhanced("2.1.0");
        if reply.is_positive() {
            self.txn = Some(Txn {
                from: from.to_owned(),
                rcpts: Vec::new(),
            });
        }
        self.outcome(&reply)
    }

    pub(super) fn rcpt(&mut self, rcpt: &str, params: &str) -> Flow {
        let Some(txn) = &self.txn else {
            return self.error(503, "5.5.1 Need MAIL command first");
        };
        if !rcpt.contains('@') && !rcpt.eq_ignore_ascii_case("postmaster") {
            return self.error(501, "5.1.3 Bad recipient address syntax");
        }
        if !params.is_empty() {
            return self.error(555, "5.5.4 Unsupported RCPT parameter");
        }
        if txn.rcpts.len() >= self.shared.max_recipients {
            return self.reply(452, "4.5.3 Too many recipients");
        }
        let reply = self
            .shared
            .behavior
            .rcpt_to(&self.peer, rcpt)
            .with_enhanced("2.1.5");
        if reply.is_positive()
            && let Some(txn) = &mut self.txn
        {
            txn.rcpts.push(rcpt.to_owned());
        }
        self.outcome(&reply)
    }

    pub(super) async fn data(&mut self) -> io::Result<Flow> {
        match &self.txn {
            None => return Ok(self.error(503, "5.5.1 Need MAIL command first")),
            // Not counted as an error: a PIPELINING client sends DATA before
            // it learns that every RCPT was refused (RFC 2920).
            Some(txn) if txn.rcpts.is_empty() => {
                return Ok(self.reply(503, "5.5.1 Need RCPT command first (no valid recipients)"));
            }
            Some(_) => {}
        }
        self.send(&Reply::new(354, "End data with <CR><LF>.<CR><LF>"));
        if self.io.buffer().is_empty() {
            self.flush().await?;
        }
        let (idle, deadline) = (self.shared.idle_timeout, self.deadline);
        let body = read_body(&mut self.io, self.shared.max_message_bytes, || {
            next_wait(idle, deadline)
        })
        .await;
        let body = match body {
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Ok(self.timed_out()),
            body => body?,
        };
        let Some(txn) = self.txn.take() else {
            return Ok(self.reply(503, "5.5.1 Need MAIL command first"));
        };
        let Some(data) = body else {
            return Ok(self.reply(552, "5.3.4 Message size exceeds fixed limit"));
        };
        let received_at = SystemTime::now();
        let mut msg = ReceivedMessage {
            id: self.shared.next_id(received_at),
            peer: self.peer.remote,
            local: self.peer.local,
            helo: self.peer.helo.clone().unwrap_or_default(),
            mail_from: txn.from,
            rcpt_to: txn.rcpts,
            data,
            received_at,
            tls: self.peer.tls,
            auth: self.peer.auth.clone(),
            outbox_path: None,
        };
        let reply = self
            .shared
            .behavior
            .deliver(&self.peer, &msg)
            .await
            .with_enhanced("2.0.0");
        if reply.is_positive() {
            if let Some(dir) = &self.shared.outbox {
                match write_outbox(dir, &msg.id, &msg.data).await {
                    Ok(path) => msg.outbox_path = Some(path),
                    Err(e) => {
                        tracing::warn!(dir = %dir.display(), error = %e, "writing .eml failed");
                        return Ok(self.reply(451, "4.3.0 Could not write message to outbox"));
                    }
                }
            }
            self.shared.record(msg);
            self.errors = 0;
        }
        Ok(self.outcome(&reply))
    }
}
