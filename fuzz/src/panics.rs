//! Catching a target's panics: a process-wide panic hook that, on the
//! fuzzer's worker threads only, records where the panic happened (the
//! message, `file:line:col`, and a backtrace) instead of printing it, and
//! [`catch`], which runs one decode under `catch_unwind` and hands that
//! record back.
//!
//! Any other thread (a test's assertion, the command line) keeps the
//! hook that was in place before, so its panics print as usual.
//!
//! Calls nothing in this crate.

use std::backtrace::Backtrace;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

/// Where and why a target panicked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanicRecord {
    /// The panic message (e.g. `attempt to add with overflow`).
    pub message: String,
    /// `file:line:col` of the panic.
    pub location: String,
    /// The stack when it panicked.
    pub backtrace: String,
}

thread_local! {
    /// Whether this thread runs targets (then its panics are recorded).
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// The last panic recorded on this thread.
    static LAST: RefCell<Option<PanicRecord>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

/// Installs the hook (once per process), chaining to the previous one for
/// threads that are not fuzz workers.
fn install() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
                return;
            }
            let message = if let Some(s) = info.payload().downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = info.payload().downcast_ref::<String>() {
                s.clone()
            } else {
                "(non-string panic payload)".to_string()
            };
            let location = info.location().map_or_else(|| "(unknown)".to_string(), |l| l.to_string());
            let backtrace = Backtrace::force_capture().to_string();
            LAST.with(|l| *l.borrow_mut() = Some(PanicRecord { message, location, backtrace }));
        }));
    });
}

/// Marks the calling thread as a fuzz worker: from now on its panics are
/// recorded for [`catch`] rather than printed.
pub fn quiet_this_thread() {
    install();
    QUIET.with(|q| q.set(true));
}

/// Runs `f`; `Err` with the panic's record if it panicked.
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, PanicRecord> {
    install();
    LAST.with(|l| *l.borrow_mut() = None);
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Ok(r),
        Err(payload) => {
            let recorded = LAST.with(|l| l.borrow_mut().take());
            Err(recorded.unwrap_or_else(|| PanicRecord {
                message: payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(non-string panic payload)".to_string()),
                location: "(unknown)".to_string(),
                backtrace: String::new(),
            }))
        }
    }
}

/// Whether this build panics on integer overflow (the kernel is built
/// with overflow checks, so the fuzzer should be too).
pub fn overflow_checks_on() -> bool {
    let x = std::hint::black_box(u8::MAX);
    std::thread::scope(|s| {
        s.spawn(|| {
            quiet_this_thread();
            catch(|| std::hint::black_box(x) + 1).is_err()
        })
        .join()
        .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_the_panic_site_on_a_quiet_thread() {
        let r = std::thread::spawn(|| {
            quiet_this_thread();
            catch(|| -> u32 { panic!("boom {}", 7) })
        })
        .join()
        .expect("worker");
        let rec = r.expect_err("it panicked");
        assert_eq!(rec.message, "boom 7");
        assert!(rec.location.contains("panics.rs"), "{}", rec.location);
        assert_eq!(catch(|| 5), Ok(5));
    }

    #[test]
    fn tests_build_with_overflow_checks() {
        assert!(overflow_checks_on());
    }
}
