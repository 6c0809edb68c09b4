//! The time each step of applying a run takes, logged at debug level as it
//! ends: a slow apply names its statement.

/// How long each step of applying a run took, logged (debug) as it ends:
/// a slow apply names its statement.
pub struct Steps {
    run_id: i64,
    last: std::time::Instant,
}

impl Steps {
    pub fn new(run_id: i64) -> Steps {
        Steps {
            run_id,
            last: std::time::Instant::now(),
        }
    }

    pub fn done(&mut self, step: &'static str) {
        let now = std::time::Instant::now();
        tracing::debug!(
            run_id = self.run_id,
            step,
            elapsed_ms = (now - self.last).as_millis() as u64,
            "applying the run"
        );
        self.last = now;
    }
}
