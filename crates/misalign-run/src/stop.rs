//! A run-wide stop signal: Ctrl-C, an invalid API key, a store failure, or the cost limit.

use std::sync::Arc;
use tokio::sync::watch;

/// Why a run stopped before sampling everything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The user pressed Ctrl-C (or the caller asked to stop).
    Interrupted,
    /// A provider rejected the API key (401/403).
    Auth {
        provider: String,
        model: String,
        /// The provider's message (key-free).
        message: String,
    },
    /// An answer could not be stored.
    Store(String),
    /// The next call would have passed `--max-cost` (the budget's own words: limit, spent,
    /// set aside). Calls in flight finish and are stored; nothing new starts.
    Budget(String),
}

/// Cloneable; the first reason given wins.
#[derive(Clone, Debug)]
pub struct Stop {
    tx: Arc<watch::Sender<Option<StopReason>>>,
}

impl Default for Stop {
    fn default() -> Self {
        Stop::new()
    }
}

impl Stop {
    pub fn new() -> Stop {
        Stop {
            tx: Arc::new(watch::channel(None).0),
        }
    }

    /// Asks the run to stop; ignored if it was already asked.
    pub fn trigger(&self, reason: StopReason) {
        self.tx.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(reason);
                true
            } else {
                false
            }
        });
    }

    pub fn reason(&self) -> Option<StopReason> {
        self.tx.borrow().clone()
    }

    pub fn is_stopped(&self) -> bool {
        self.tx.borrow().is_some()
    }

    /// Resolves once a stop was asked for.
    pub async fn stopped(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|r| r.is_some()).await;
    }
}
