//! The stdio framing: line-delimited JSON-RPC read with a size limit, and queues of lines that
//! make a side that does not read slow the other side down instead of growing memory.
//!
//! Guards against a peer exhausting the proxy's memory (an endless line, a reader that never
//! reads). It does not parse messages; [`crate::protocol`] and the transports do.

use std::sync::Arc;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::sync::mpsc;

/// Outcome of reading one line.
pub(crate) enum Line {
    /// The stream ended.
    Eof,
    /// One line, with its newline.
    Ok(Vec<u8>),
    /// A line over the limit (consumed and dropped).
    TooLong,
}

/// Read one line of at most `max` bytes.
pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
) -> std::io::Result<Line> {
    let mut buf = Vec::new();
    let mut too_long = false;
    loop {
        let available = r.fill_buf().await?;
        if available.is_empty() {
            return Ok(if buf.is_empty() && !too_long {
                Line::Eof
            } else if too_long {
                Line::TooLong
            } else {
                Line::Ok(buf)
            });
        }
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let n = chunk.len();
        if !too_long {
            if buf.len() + n > max + 1 {
                too_long = true;
                buf = Vec::new();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        r.consume(n);
        if done {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Ok(buf)
            });
        }
    }
}

/// Bytes queued in one direction before the side feeding it waits.
const QUEUE_BUDGET: usize = 16 << 20;

/// A queue of lines to one side (the client or the server) that counts the bytes waiting in
/// it: the reader feeding it waits for room past [`QUEUE_BUDGET`], so a side that does not
/// read slows the other down instead of growing the proxy's memory.
#[derive(Clone)]
pub(crate) struct Queue {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    queued: Arc<std::sync::atomic::AtomicUsize>,
    drained: Arc<tokio::sync::Notify>,
    budget: usize,
}

impl Queue {
    pub(crate) fn new() -> (Queue, mpsc::UnboundedReceiver<Vec<u8>>) {
        Queue::with_budget(QUEUE_BUDGET)
    }

    pub(crate) fn with_budget(budget: usize) -> (Queue, mpsc::UnboundedReceiver<Vec<u8>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let q = Queue {
            budget,
            tx,
            queued: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            drained: Arc::new(tokio::sync::Notify::new()),
        };
        (q, rx)
    }

    /// Queue a line (never waits: the budget is enforced where input is read).
    pub(crate) fn send(&self, line: Vec<u8>) -> Result<(), mpsc::error::SendError<Vec<u8>>> {
        let n = line.len();
        self.queued
            .fetch_add(n, std::sync::atomic::Ordering::AcqRel);
        self.tx.send(line).inspect_err(|_| {
            self.queued
                .fetch_sub(n, std::sync::atomic::Ordering::AcqRel);
        })
    }

    /// What the side writing the lines out needs: the byte count.
    pub(crate) fn counter(&self) -> Written {
        Written {
            queued: self.queued.clone(),
            drained: self.drained.clone(),
        }
    }

    #[cfg(test)]
    pub(crate) fn written(&self, n: usize) {
        self.counter().written(n);
    }

    /// Wait until the queue is under its budget.
    pub(crate) async fn room(&self) {
        loop {
            let drained = self.drained.notified();
            if self.queued.load(std::sync::atomic::Ordering::Acquire) <= self.budget
                || self.tx.is_closed()
            {
                return;
            }
            drained.await;
        }
    }
}

/// The writing side of a [`Queue`]: it reports lines written out.
pub(crate) struct Written {
    queued: Arc<std::sync::atomic::AtomicUsize>,
    drained: Arc<tokio::sync::Notify>,
}

impl Written {
    /// A line of `n` bytes has been written out.
    pub(crate) fn written(&self, n: usize) {
        self.queued
            .fetch_sub(n, std::sync::atomic::Ordering::AcqRel);
        self.drained.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_full_queue_makes_its_feeder_wait_until_lines_are_written() {
        let (q, mut rx) = Queue::with_budget(10);
        q.send(vec![b'x'; 8]).unwrap();
        q.room().await; // under budget: no wait
        q.send(vec![b'y'; 8]).unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(50), q.room()).await;
        assert!(
            waiting.is_err(),
            "16 bytes queued, budget 10: the feeder must wait"
        );
        let line = rx.recv().await.unwrap();
        let (q2, line_len) = (q.clone(), line.len());
        let waiter = tokio::spawn(async move { q2.room().await });
        q.written(line_len);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("room after a line is written")
            .unwrap();
        // A queue nobody reads any more never blocks its feeder.
        drop(rx);
        q.send(vec![b'z'; 100]).ok();
        tokio::time::timeout(Duration::from_secs(5), q.room())
            .await
            .unwrap();
    }
}
