//! The rounds of a test that repeats its work every 100 ms while it waits
//! (`iovec`, `sockets`, `interrupt`): how many ran and what failed.

use std::sync::Mutex;

/// Rounds run so far and their failures, in order.
#[derive(Default)]
pub(crate) struct Rounds {
    pub(crate) count: u64,
    pub(crate) errors: Vec<String>,
}

impl Rounds {
    /// Counts one round and keeps its failure, if any (`at home` marks the
    /// first, run before `READY`).
    pub(crate) fn record(&mut self, r: Result<(), String>) {
        if let Err(e) = r {
            let e = if self.count == 0 { format!("at home: {e}") } else { e };
            self.errors.push(e);
        }
        self.count += 1;
    }

    /// Ok only if every round passed and at least one ran while waiting.
    pub(crate) fn verdict(&self) -> Result<(), String> {
        match self.errors.first() {
            Some(e) => Err(format!("{} of {} rounds failed; first: {e}", self.errors.len(), self.count)),
            None if self.count < 2 => Err(format!("only {} round: none while waiting", self.count)),
            None => Ok(()),
        }
    }
}

/// Every 10th tick of the waiting loop (each 10 ms), runs `round` on the
/// test's state, if it has one.
pub(crate) fn every_100ms<S>(n: u64, state: &Mutex<Option<S>>, round: impl FnOnce(&mut S)) {
    if n % 10 != 0 {
        return;
    }
    if let Some(st) = state.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        round(st);
    }
}
