//! A server-wide budget of update body bytes held in memory at once.
//!
//! Every update body is read whole before it is parsed, so without a bound the memory a burst
//! of large uploads takes grows with the number of connections. Each update reserves its size
//! here before reading (from `Content-Length`, or step by step for a chunked body) and keeps the
//! reservation until it is answered, since parsing and validation work in proportion to it. An
//! update that does not fit waits a short, bounded time and is then refused with 503, holding
//! nothing meanwhile. Part of the budget is kept for small updates, so that a burst of large
//! ones cannot hold back ordinary publishes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The default budget: 256 MiB of update bodies in flight.
pub const DEFAULT_UPLOAD_BUDGET: usize = 256 << 20;
/// The smallest budget accepted: one update of the largest allowed size must fit in the part
/// that large updates may use.
pub const MIN_UPLOAD_BUDGET: usize = 32 << 20;
/// A reservation of at most this size is a small update: it may use the whole budget.
pub const SMALL_UPLOAD: usize = 1 << 20;

/// Update body bytes reserved by the requests in flight, against a fixed total.
#[derive(Debug)]
pub struct UploadBudget {
    total: usize,
    used: AtomicUsize,
    freed: Notify,
}

impl UploadBudget {
    /// A budget of `total` bytes (at least [`MIN_UPLOAD_BUDGET`] is enforced by the
    /// configuration; a smaller one only refuses more).
    pub fn new(total: usize) -> Arc<UploadBudget> {
        Arc::new(UploadBudget {
            total,
            used: AtomicUsize::new(0),
            freed: Notify::new(),
        })
    }

    /// The configured total, in bytes.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Bytes reserved now.
    pub fn in_use(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// The most a reservation of `size` bytes may bring the total to: small updates may use
    /// everything, large ones leave an eighth for the small ones.
    fn ceiling(&self, size: usize) -> usize {
        if size <= SMALL_UPLOAD {
            self.total
        } else {
            self.total - self.total / 8
        }
    }

    /// Takes `extra` more bytes for a reservation that will then hold `size`, if they fit.
    fn try_take(&self, extra: usize, size: usize) -> bool {
        let ceiling = self.ceiling(size);
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(extra).filter(|&after| after <= ceiling)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        if bytes > 0 {
            self.used.fetch_sub(bytes, Ordering::AcqRel);
            self.freed.notify_waiters();
        }
    }

    /// Takes `extra` bytes, waiting until `deadline` for others to give some back.
    async fn take(&self, extra: usize, size: usize, deadline: Instant) -> bool {
        loop {
            // Registered before the check, so a release between the two is not missed.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if self.try_take(extra, size) {
                return true;
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return false;
            }
        }
    }

    /// Reserves `bytes`, waiting until `deadline` at most; `None` if they never fit.
    pub async fn reserve(self: &Arc<Self>, bytes: usize, deadline: Instant) -> Option<Reservation> {
        if !self.take(bytes, bytes, deadline).await {
            return None;
        }
        Some(Reservation {
            budget: Arc::clone(self),
            bytes,
        })
    }
}

/// Bytes held against an [`UploadBudget`], given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<UploadBudget>,
    bytes: usize,
}

impl Reservation {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Grows the reservation to `bytes`, waiting until `deadline` at most; false if it did not
    /// fit (the reservation then keeps what it had).
    pub async fn grow(&mut self, bytes: usize, deadline: Instant) -> bool {
        if bytes <= self.bytes {
            return true;
        }
        if !self.budget.take(bytes - self.bytes, bytes, deadline).await {
            return false;
        }
        self.bytes = bytes;
        true
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn soon(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[tokio::test]
    async fn large_updates_leave_room_for_small_ones() {
        let budget = UploadBudget::new(64 << 20);
        let big = budget.reserve(40 << 20, soon(0)).await.expect("fits");
        // 40 + 20 would pass 7/8 of 64 MiB: a large update may not take the small ones' part.
        assert!(budget.reserve(20 << 20, soon(20)).await.is_none());
        let small = budget
            .reserve(SMALL_UPLOAD, soon(0))
            .await
            .expect("small fits");
        assert_eq!(budget.in_use(), (40 << 20) + SMALL_UPLOAD);
        drop((big, small));
        assert_eq!(budget.in_use(), 0, "everything is given back");
    }

    #[tokio::test]
    async fn a_waiter_gets_what_another_gives_back() {
        let budget = UploadBudget::new(32 << 20);
        let first = budget.reserve(24 << 20, soon(0)).await.expect("fits");
        let waiter = {
            let budget = Arc::clone(&budget);
            tokio::spawn(async move { budget.reserve(24 << 20, soon(5_000)).await.is_some() })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(first);
        assert!(
            waiter.await.expect("task"),
            "the waiter is woken by the release"
        );
    }

    #[tokio::test]
    async fn growing_past_the_budget_keeps_what_was_held() {
        let budget = UploadBudget::new(32 << 20);
        let mut r = budget.reserve(SMALL_UPLOAD, soon(0)).await.expect("fits");
        assert!(r.grow(16 << 20, soon(0)).await);
        assert!(!r.grow(40 << 20, soon(10)).await);
        assert_eq!((r.bytes(), budget.in_use()), (16 << 20, 16 << 20));
    }
}
