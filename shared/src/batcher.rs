//! One task that writes what many callers queue, in batches: everything queued while the
//! previous write ran (up to a maximum) goes in the next one. The consumers' acknowledgements
//! and attempt records both go through one, so a busy worker pays one round trip per batch
//! rather than per event.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

enum Msg<T> {
    Item(T),
    Flush(oneshot::Sender<()>),
}

/// The handle items are queued through.
#[derive(Debug)]
pub struct Batcher<T> {
    tx: mpsc::UnboundedSender<Msg<T>>,
}

impl<T> Clone for Batcher<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

impl<T: Send + 'static> Batcher<T> {
    /// Starts the task: `write` gets each batch of at most `max` items, one batch at a time.
    pub fn start<W, F>(max: usize, mut write: W) -> Self
    where
        W: FnMut(Vec<T>) -> F + Send + 'static,
        F: Future<Output = ()> + Send,
    {
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg<T>>();
        tokio::spawn(async move {
            let mut waiters = Vec::new();
            while let Some(first) = rx.recv().await {
                let mut batch = Vec::new();
                let mut next = Some(first);
                while let Some(msg) = next {
                    match msg {
                        Msg::Item(item) => batch.push(item),
                        Msg::Flush(done) => waiters.push(done),
                    }
                    next = if batch.len() < max {
                        rx.try_recv().ok()
                    } else {
                        None
                    };
                }
                if !batch.is_empty() {
                    write(batch).await;
                }
                for done in waiters.drain(..) {
                    let _ = done.send(());
                }
            }
        });
        Self { tx }
    }

    /// Queues an item for the next batch.
    pub fn push(&self, item: T) {
        let _ = self.tx.send(Msg::Item(item));
    }

    /// Waits until everything queued so far is written (or its write failed).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[tokio::test]
    async fn items_queued_during_a_write_go_in_the_next_batch_of_at_most_max() {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = batches.clone();
        let batcher = Batcher::start(3, move |batch: Vec<u32>| {
            seen.lock().unwrap().push(batch);
            async {}
        });
        for i in 0..7 {
            batcher.push(i);
        }
        batcher.flush().await;
        let batches = batches.lock().unwrap().clone();
        assert_eq!(batches.concat(), (0..7).collect::<Vec<_>>());
        assert!(batches.iter().all(|b| b.len() <= 3), "{batches:?}");
    }
}
