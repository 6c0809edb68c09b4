//! The component calls its imports synchronously, and an exchange with the
//! platform is a future: these run futures from that blocking code, on the
//! tokio runtime the caller is in (the daemon's), or on one of the
//! module's own when it is in none (the CLI's sync).

use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};

/// The runtime for callers outside any: the CLI runs the component on a
/// plain thread.
static OWN: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("mapsync-fetch")
        .build()
        .expect("a tokio runtime for the platform's requests")
});

/// Run `future` to its end and answer its output, blocking this thread
/// (which must not be one of the runtime's workers: the component runs on
/// blocking threads).
pub fn block_on<F: Future>(future: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.block_on(future),
        Err(_) => OWN.block_on(future),
    }
}

/// Start `future` on the runtime and go on; the handle answers its output
/// and, dropped first, ends it.
pub fn spawn<F>(future: F) -> Spawned<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let task = match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.spawn(future),
        Err(_) => OWN.spawn(future),
    };
    Spawned(task)
}

/// A spawned future that is abandoned when its handle is dropped.
pub struct Spawned<T>(tokio::task::JoinHandle<T>);

impl<T> Spawned<T> {
    /// Whether the future ended: waiting for it would not block.
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl<T> Drop for Spawned<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for Spawned<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.0).poll(cx).map(|done| match done {
            Ok(output) => output,
            // Not aborted while polled (only drop aborts): it panicked.
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        })
    }
}
