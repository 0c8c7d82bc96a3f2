//! A server-wide budget of the memory that updates in flight use.
//!
//! Every update body is read whole before it is parsed, so without a bound the memory a burst
//! of large uploads takes grows with the number of connections. Each update reserves here,
//! before reading (from `Content-Length`, or step by step for a chunked body), what it will
//! use: [`MEMORY_PER_BODY_BYTE`] times its body, since the body, the multipart split and the
//! parsed trees of the envelope check and of validation all live at once. It keeps the
//! reservation until it is answered. An update that does not fit waits a short, bounded time and
//! is then refused with 503, holding nothing meanwhile. A reservation larger than what large
//! updates may use is cut to it, so the largest update still runs alone. Part of the budget is
//! kept for small updates, so that a burst of large ones cannot hold back ordinary publishes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The default budget: 256 MiB for the updates in flight.
pub const DEFAULT_UPLOAD_BUDGET: usize = 256 << 20;
/// The smallest budget accepted: room for a few small updates beside a large one.
pub const MIN_UPLOAD_BUDGET: usize = 16 << 20;
/// A body of at most this size is a small update: it may use the whole budget.
pub const SMALL_UPLOAD: usize = 1 << 20;
/// Memory an update is charged per byte of its body. A 20 MiB update of well-formed targets
/// files (190,000 targets) once raised the resident size by about 300 MB, when the parts were
/// parsed into JSON trees; read without a tree, a burst of them (processed one by one) raises
/// it by 160–190 MB (the body, its multipart copy, the canonical bytes and the typed form),
/// measured with the `resources` section of bench/. The charge keeps that margin.
pub const MEMORY_PER_BODY_BYTE: usize = 16;

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

    /// The most the budget in use may reach with an update of `body` bytes: small updates may
    /// use everything, large ones leave an eighth for the small ones.
    fn ceiling(&self, body: usize) -> usize {
        if body <= SMALL_UPLOAD {
            self.total
        } else {
            self.total - self.total / 8
        }
    }

    /// What an update of `body` bytes is charged.
    fn cost(&self, body: usize) -> usize {
        body.saturating_mul(MEMORY_PER_BODY_BYTE)
            .min(self.ceiling(body))
    }

    /// Takes `extra` more bytes for an update of `body` bytes, if they fit.
    fn try_take(&self, extra: usize, body: usize) -> bool {
        let ceiling = self.ceiling(body);
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
    async fn take(&self, extra: usize, body: usize, deadline: Instant) -> bool {
        loop {
            // Registered before the check, so a release between the two is not missed.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if self.try_take(extra, body) {
                return true;
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return false;
            }
        }
    }

    /// Reserves for an update of `body` bytes, waiting until `deadline` at most; `None` if it
    /// never fits.
    pub async fn reserve(self: &Arc<Self>, body: usize, deadline: Instant) -> Option<Reservation> {
        let cost = self.cost(body);
        if !self.take(cost, body, deadline).await {
            return None;
        }
        Some(Reservation {
            budget: Arc::clone(self),
            body,
            cost,
        })
    }
}

/// Memory held against an [`UploadBudget`] for one update, given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<UploadBudget>,
    body: usize,
    cost: usize,
}

impl Reservation {
    /// The body size reserved for.
    pub fn body(&self) -> usize {
        self.body
    }

    /// Grows the reservation to a body of `body` bytes, waiting until `deadline` at most;
    /// false if it did not fit (the reservation then keeps what it had).
    pub async fn grow(&mut self, body: usize, deadline: Instant) -> bool {
        if body <= self.body {
            return true;
        }
        let cost = self.budget.cost(body);
        let extra = cost.saturating_sub(self.cost);
        if !self.budget.take(extra, body, deadline).await {
            return false;
        }
        self.body = body;
        self.cost += extra;
        true
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give_back(self.cost);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn soon(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    const MIB: usize = 1 << 20;

    #[tokio::test]
    async fn large_updates_leave_room_for_small_ones() {
        let budget = UploadBudget::new(256 * MIB);
        let big = budget.reserve(20 * MIB, soon(0)).await.expect("fits");
        assert_eq!(budget.in_use(), 224 * MIB);
        // 320 MiB is cut to the 224 MiB large updates may use: a second one is refused.
        assert!(budget.reserve(20 * MIB, soon(20)).await.is_none());
        let small = budget
            .reserve(SMALL_UPLOAD, soon(0))
            .await
            .expect("small fits");
        drop((big, small));
        assert_eq!(budget.in_use(), 0, "everything is given back");
    }

    #[tokio::test]
    async fn the_largest_update_runs_alone_on_a_small_budget() {
        let budget = UploadBudget::new(MIN_UPLOAD_BUDGET);
        let big = budget
            .reserve(24 * MIB, soon(0))
            .await
            .expect("cut to what large ones may use");
        assert_eq!(budget.in_use(), MIN_UPLOAD_BUDGET - MIN_UPLOAD_BUDGET / 8);
        assert!(
            budget.reserve(64 * 1024, soon(0)).await.is_some(),
            "small ones still pass"
        );
        drop(big);
    }

    #[tokio::test]
    async fn a_waiter_gets_what_another_gives_back() {
        let budget = UploadBudget::new(256 * MIB);
        let first = budget.reserve(24 * MIB, soon(0)).await.expect("fits");
        let waiter = {
            let budget = Arc::clone(&budget);
            tokio::spawn(async move { budget.reserve(24 * MIB, soon(5_000)).await.is_some() })
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
        let budget = UploadBudget::new(256 * MIB);
        let _other = budget.reserve(20 * MIB, soon(0)).await.expect("fits");
        let mut r = budget.reserve(0, soon(0)).await.expect("fits");
        assert!(
            r.grow(64 * 1024, soon(0)).await,
            "a small chunked body grows"
        );
        assert!(
            !r.grow(8 * MIB, soon(10)).await,
            "a large one does not fit beside the other"
        );
        assert_eq!(r.body(), 64 * 1024);
        assert_eq!(
            budget.in_use(),
            224 * MIB + 64 * 1024 * MEMORY_PER_BODY_BYTE,
            "the large one is cut to 7/8 of the budget"
        );
    }
}
