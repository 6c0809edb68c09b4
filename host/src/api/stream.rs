//! An answer written by a blocking thread as it goes: the thread holds an
//! `io::Write` whose chunks the client reads as they come, at most a few
//! chunks ahead of it, so an answer as long as its input is never held
//! whole (an import's report of every bad row).

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Bytes;
use http_body::Frame;
use tokio::sync::mpsc;

/// Chunks written but not yet sent; the writer waits past them.
const CHUNKS_AHEAD: usize = 4;

/// The writing end: each `write` is one chunk of the answer.
pub struct Chunks(mpsc::Sender<Bytes>);

impl std::io::Write for Chunks {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
            })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The reading end, as an answer's body: it ends when the writer is dropped.
pub struct Answer(mpsc::Receiver<Bytes>);

impl http_body::Body for Answer {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

/// A writer for a blocking thread, and the body that sends what it writes.
pub fn body() -> (Chunks, axum::body::Body) {
    let (sender, receiver) = mpsc::channel(CHUNKS_AHEAD);
    (Chunks(sender), axum::body::Body::new(Answer(receiver)))
}
