//! The CPU time of the calling thread: the work done on it, however many
//! other threads and processes share the machine's cores meanwhile. A
//! sync's component runs on one thread beside the store's and the
//! platform's, so its wall time also counts the moments it waited for a
//! core; its CPU time does not. Also compiled into the `sync` benchmark,
//! which times the guest built natively the same way.

use std::time::Duration;

/// The CPU time the calling thread has used so far; zero where the
/// platform keeps none.
pub fn thread_cpu() -> Duration {
    #[cfg(unix)]
    {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `t` is a valid timespec for the call to fill; it reads
        // nothing else.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0 {
            return Duration::new(t.tv_sec as u64, t.tv_nsec as u32);
        }
    }
    Duration::ZERO
}
