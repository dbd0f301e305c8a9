//! SQS, through aws-sdk-sqs: the Lambda function's spool queue, the mirror queue of a
//! migration, and the legacy queues `hookline import sqs` and `hookline parity` read.
//! Endpoint, region and credentials come from the AWS config chain, so the standard
//! `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_SQS` variables point hookline at any
//! SQS-compatible server.

pub mod message;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
};

use crate::aws::sdk_reason;

/// The largest message (body and attributes) hookline sends: SQS's classic 256 KiB, which
/// every SQS-compatible server accepts (AWS itself now takes up to 1 MiB).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Bounds on one call, so a request that waits for SQS never waits long: connecting, each
/// attempt, and the whole call with the SDK's retries.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
const CALL_TIMEOUT: Duration = Duration::from_secs(8);

/// Why an SQS call failed, in one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SqsError(String);

/// A message to send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outgoing {
    /// The body.
    pub body: String,
    /// String attributes.
    pub attributes: Vec<(&'static str, String)>,
    /// FIFO queues: the message group (messages of one group are received in order).
    pub group: Option<String>,
    /// FIFO queues: the de-duplication id (SQS drops a repeat within five minutes).
    pub dedup_id: Option<String>,
}

impl Outgoing {
    /// The size SQS counts against its limit: the body and every attribute's name, type and
    /// value.
    pub fn size(&self) -> usize {
        self.body.len()
            + self
                .attributes
                .iter()
                .map(|(name, value)| name.len() + "String".len() + value.len())
                .sum::<usize>()
    }
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// SQS's id of the message.
    pub message_id: String,
    /// What deletes it (valid while it is invisible).
    pub receipt: String,
    /// The body.
    pub body: String,
    /// Its string attributes.
    pub attributes: HashMap<String, String>,
    /// When SQS received it, ms since the epoch.
    pub sent_at_ms: Option<u64>,
}

/// One queue.
#[derive(Debug, Clone)]
pub struct Queue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl Queue {
    /// The queue at `url`, with a client from the AWS config chain.
    pub async fn connect(url: &str) -> Self {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(CALL_TIMEOUT)
            .build();
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(timeouts)
            .load()
            .await;
        Self::new(aws_sdk_sqs::Client::new(&shared), url)
    }

    /// The queue at `url` through `client`.
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `message`; SQS has it durably once this returns `Ok`.
    pub async fn send(&self, message: Outgoing) -> Result<(), SqsError> {
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(message.body)
            .set_message_group_id(message.group)
            .set_message_deduplication_id(message.dedup_id);
        for (name, value) in message.attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| SqsError(e.to_string()))?;
            request = request.message_attributes(name, value);
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| SqsError(sdk_reason("SQS", &e)))
    }

    /// Up to `max` (at most 10) messages, waiting up to `wait` for the first; each stays
    /// invisible to other receivers for `visibility`.
    pub async fn receive(
        &self,
        max: i32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Received>, SqsError> {
        let answer = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(wait.as_secs() as i32)
            .visibility_timeout(visibility.as_secs().max(1) as i32)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| SqsError(sdk_reason("SQS", &e)))?;
        Ok(answer
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let attributes = m
                    .message_attributes
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(name, value)| Some((name, value.string_value?)))
                    .collect();
                let sent_at_ms = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                    .and_then(|t| t.parse().ok());
                Some(Received {
                    message_id: m.message_id?,
                    receipt: m.receipt_handle?,
                    body: m.body.unwrap_or_default(),
                    attributes,
                    sent_at_ms,
                })
            })
            .collect())
    }

    /// Deletes the messages received with `receipts` (at most 10).
    pub async fn delete(&self, receipts: &[&str]) -> Result<(), SqsError> {
        if receipts.is_empty() {
            return Ok(());
        }
        let entries = batch(receipts, |id, receipt| {
            DeleteMessageBatchRequestEntry::builder()
                .id(id)
                .receipt_handle(receipt)
                .build()
        })?;
        let answer = self
            .client
            .delete_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| SqsError(sdk_reason("SQS", &e)))?;
        match answer.failed.first() {
            Some(failed) => Err(SqsError(format!(
                "SQS did not delete a message: {} {}",
                failed.code,
                failed.message.as_deref().unwrap_or_default()
            ))),
            None => Ok(()),
        }
    }
}

/// One batch entry per receipt, `entry(id, receipt)`, its id the receipt's index.
fn batch<T, E: std::fmt::Display>(
    receipts: &[&str],
    entry: impl Fn(String, &str) -> Result<T, E>,
) -> Result<Vec<T>, SqsError> {
    let entries = receipts.iter().enumerate();
    entries
        .map(|(i, receipt)| entry(i.to_string(), receipt).map_err(|e| SqsError(e.to_string())))
        .collect()
}

impl Queue {
    /// Makes the messages received with `receipts` (at most 10) visible again now, for a
    /// message that could not be handled and should be retried without waiting out its
    /// visibility timeout.
    pub async fn release(&self, receipts: &[&str]) -> Result<(), SqsError> {
        if receipts.is_empty() {
            return Ok(());
        }
        let entries = batch(receipts, |id, receipt| {
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(id)
                .receipt_handle(receipt)
                .visibility_timeout(0)
                .build()
        })?;
        self.client
            .change_message_visibility_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| SqsError(sdk_reason("SQS", &e)))
    }

    /// Messages received by some reader and neither deleted nor visible again yet (SQS's
    /// approximate count).
    pub async fn in_flight(&self) -> Result<u64, SqsError> {
        let name = QueueAttributeName::ApproximateNumberOfMessagesNotVisible;
        let answer = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(name.clone())
            .send()
            .await
            .map_err(|e| SqsError(sdk_reason("SQS", &e)))?;
        Ok(answer
            .attributes
            .and_then(|a| a.get(&name)?.parse().ok())
            .unwrap_or(0))
    }
}

/// Reads a queue through once: every message is received (and left invisible for
/// `visibility`) and handed out once. It ends when the queue has nothing visible left, or
/// after three receives in a row bring only messages already handed out (their visibility
/// ran out before the end of a long scan). [`release`](Self::release) then gives the
/// messages not deleted back to the queue's other readers at once.
pub struct Scan<'a> {
    queue: &'a Queue,
    visibility: Duration,
    seen: HashSet<String>,
    /// The latest receipt of every message handed out.
    receipts: HashMap<String, String>,
    stale_rounds: u32,
}

/// Receives a scan tries before it gives up.
const SCAN_TRIES: u64 = 3;

impl<'a> Scan<'a> {
    /// A scan of `queue`.
    pub fn new(queue: &'a Queue, visibility: Duration) -> Self {
        Self {
            queue,
            visibility,
            seen: HashSet::new(),
            receipts: HashMap::new(),
            stale_rounds: 0,
        }
    }

    /// The next messages not handed out before; `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Vec<Received>>, SqsError> {
        while self.stale_rounds < 3 {
            let batch = self.receive().await?;
            if batch.is_empty() {
                return Ok(None);
            }
            for m in &batch {
                self.receipts
                    .insert(m.message_id.clone(), m.receipt.clone());
            }
            let fresh: Vec<Received> = batch
                .into_iter()
                .filter(|m| self.seen.insert(m.message_id.clone()))
                .collect();
            if !fresh.is_empty() {
                self.stale_rounds = 0;
                return Ok(Some(fresh));
            }
            self.stale_rounds += 1;
        }
        Ok(None)
    }

    /// One receive, tried again after a pause when it fails (a busy queue or server may not
    /// answer within the call timeout; what a failed call received reappears after the
    /// visibility timeout and is read then).
    async fn receive(&self) -> Result<Vec<Received>, SqsError> {
        let mut tries = 1;
        loop {
            match self
                .queue
                .receive(10, Duration::from_secs(1), self.visibility)
                .await
            {
                Err(e) if tries < SCAN_TRIES => {
                    tracing::warn!(error = %e, "cannot read the queue; trying again");
                    tokio::time::sleep(Duration::from_secs(tries)).await;
                    tries += 1;
                }
                answer => return answer,
            }
        }
    }

    /// Makes every message handed out visible again now (so reading the queue does not hold
    /// its messages from their other readers for the visibility timeout); deleted ones are
    /// skipped by SQS.
    pub async fn release(self) {
        let receipts: Vec<&str> = self.receipts.values().map(String::as_str).collect();
        for chunk in receipts.chunks(10) {
            if let Err(e) = self.queue.release(chunk).await {
                tracing::debug!(error = %e, "cannot make read messages visible again");
            }
        }
    }
}
