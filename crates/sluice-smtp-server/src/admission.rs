//! Who may open a session: a cap on connections in total and, for internet-facing
//! listeners, a cap per client IP, so one host cannot take every slot and lock out the
//! reporting MTAs the bounce listener exists for.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a connection was turned away; [`Refusal::reply`] is what the client is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Every slot is taken.
    Busy,
    /// This client IP already holds its share.
    TooManyFromIp,
}

impl Refusal {
    /// A 421 greeting (RFC 5321 section 3.8: the reply of a server that must close).
    pub(crate) fn reply(self) -> &'static [u8] {
        match self {
            Self::Busy => b"421 4.3.2 Too busy, try again later\r\n",
            Self::TooManyFromIp => {
                b"421 4.7.0 Too many connections from your address, try again later\r\n"
            }
        }
    }
}

type Counts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// Hands out [`Slot`]s within both caps.
pub(crate) struct Admission {
    total: Arc<Semaphore>,
    per_ip: Option<usize>,
    counts: Counts,
}

/// A served connection's place; dropping it (when the session ends) frees it.
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
    ip: IpAddr,
    counts: Option<Counts>,
}

impl Admission {
    pub(crate) fn new(total: usize, per_ip: Option<usize>) -> Self {
        Self {
            total: Arc::new(Semaphore::new(total)),
            per_ip,
            counts: Counts::default(),
        }
    }

    /// A slot for a connection from `ip`, or why there is none. The per-IP cap is
    /// checked first, so a flooding host is told so even when it also filled the rest.
    pub(crate) fn admit(&self, ip: IpAddr) -> Result<Slot, Refusal> {
        let Some(per_ip) = self.per_ip else {
            let permit = Arc::clone(&self.total)
                .try_acquire_owned()
                .map_err(|_| Refusal::Busy)?;
            return Ok(Slot {
                _permit: permit,
                ip,
                counts: None,
            });
        };
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let held = counts.get(&ip).copied().unwrap_or(0);
        if held >= per_ip {
            return Err(Refusal::TooManyFromIp);
        }
        let permit = Arc::clone(&self.total)
            .try_acquire_owned()
            .map_err(|_| Refusal::Busy)?;
        counts.insert(ip, held + 1);
        Ok(Slot {
            _permit: permit,
            ip,
            counts: Some(Arc::clone(&self.counts)),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(counts) = &self.counts else { return };
        let mut counts = counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(held) = counts.get_mut(&self.ip) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                counts.remove(&self.ip); // the map holds only IPs with open connections
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn caps_each_ip_and_the_total() {
        let admission = Admission::new(3, Some(2));
        let a1 = admission.admit(A).expect("first from A");
        let _a2 = admission.admit(A).expect("second from A");
        assert_eq!(admission.admit(A).err(), Some(Refusal::TooManyFromIp));
        let _b1 = admission.admit(B).expect("B has its own share");
        assert_eq!(admission.admit(B).err(), Some(Refusal::Busy));
        drop(a1);
        let _a3 = admission.admit(A).expect("a freed slot is reusable");
        assert_eq!(admission.counts.lock().expect("lock").get(&A), Some(&2));
    }

    #[test]
    fn forgets_ips_without_connections() {
        let admission = Admission::new(10, Some(1));
        drop(admission.admit(A).expect("slot"));
        assert!(admission.counts.lock().expect("lock").is_empty());
        let unlimited = Admission::new(2, None);
        let _one = unlimited.admit(A).expect("slot");
        let _two = unlimited.admit(A).expect("no per-IP cap");
        assert_eq!(unlimited.admit(B).err(), Some(Refusal::Busy));
    }
}
