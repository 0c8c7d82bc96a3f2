//! Accepted sockets that have not sent a byte yet, at most a fixed number, oldest evicted.
//!
//! A socket that never speaks costs its sender nothing, so a flood of them must not hold what
//! serving needs. Such sockets wait here, without a connection slot, until their first byte
//! arrives; when the set is full, the one that has waited longest is closed to make room. A
//! real client sends its ClientHello (or request) right after connecting, so it leaves the set
//! long before thousands of newer sockets could push it out.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;

/// The silent sockets waiting, oldest first.
#[derive(Debug)]
pub(super) struct Silent {
    capacity: usize,
    waiting: Mutex<Waiting>,
}

#[derive(Debug, Default)]
struct Waiting {
    next: u64,
    /// Dropping a sender tells its socket to give up.
    senders: BTreeMap<u64, oneshot::Sender<()>>,
}

/// One socket's place in [`Silent`], given up when dropped.
#[derive(Debug)]
pub(super) struct Place {
    silent: Arc<Silent>,
    id: u64,
}

impl Silent {
    pub(super) fn new(capacity: usize) -> Arc<Silent> {
        Arc::new(Silent {
            capacity: capacity.max(1),
            waiting: Mutex::new(Waiting::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        // The map stays consistent whatever panicked while holding it.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for a new socket, evicting the oldest when full; the receiver resolves when the
    /// socket is evicted.
    pub(super) fn admit(self: &Arc<Self>) -> (Place, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let mut waiting = self.lock();
        while waiting.senders.len() >= self.capacity {
            waiting.senders.pop_first();
        }
        let id = waiting.next;
        waiting.next += 1;
        waiting.senders.insert(id, tx);
        drop(waiting);
        (
            Place {
                silent: Arc::clone(self),
                id,
            },
            rx,
        )
    }

    /// Evicts the oldest socket, if any (when the process runs out of file descriptors).
    pub(super) fn evict_oldest(&self) -> bool {
        self.lock().senders.pop_first().is_some()
    }

    /// Sockets waiting now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().senders.len()
    }
}

impl Place {
    /// A share of `max` that differs between sockets admitted together (a multiplicative hash
    /// of the admission order), so that a flood opened at once does not time out at once and
    /// reconnect in one wave that fills the accept queue in front of real clients.
    pub(super) fn spread(&self, max: Duration) -> Duration {
        let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX).max(1);
        Duration::from_millis((self.id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % max_ms)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.silent.lock().senders.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_is_evicted_when_full() {
        let silent = Silent::new(2);
        let (_a, mut a) = silent.admit();
        let (_b, mut b) = silent.admit();
        let (c, mut c_rx) = silent.admit();
        assert_eq!(a.try_recv(), Err(oneshot::error::TryRecvError::Closed));
        assert_eq!(b.try_recv(), Err(oneshot::error::TryRecvError::Empty));
        assert_eq!(c_rx.try_recv(), Err(oneshot::error::TryRecvError::Empty));
        drop(c);
        assert_eq!(silent.len(), 1, "a place is given up when dropped");
        assert!(silent.evict_oldest());
        assert_eq!(silent.len(), 0);
    }

    #[test]
    fn sockets_admitted_together_time_out_apart() {
        let silent = Silent::new(1000);
        let max = Duration::from_secs(10);
        let places: Vec<_> = (0..1000).map(|_| silent.admit().0).collect();
        let mut seconds = [0usize; 10];
        for place in &places {
            let spread = place.spread(max);
            assert!(spread < max);
            seconds[usize::try_from(spread.as_secs()).expect("small")] += 1;
        }
        // Each second of the spread gets about a tenth of them, none a wave.
        assert!(
            seconds.iter().all(|&n| (50..=150).contains(&n)),
            "{seconds:?}"
        );
    }
}
