//! A real S3- and SQS-compatible server for archive and queue tests: `moto_server` (PyPI
//! `moto[server]`) on a free loopback port, stopped on drop.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

use crate::server::free_port;

/// A moto S3 server for one test.
pub struct MotoServer {
    port: u16,
    child: Option<Child>,
}

impl MotoServer {
    /// Starts moto_server and waits until it accepts connections.
    pub fn start() -> Self {
        let port = free_port();
        // tests/moto_server.py: moto_server with a faster clock (its docstring says why).
        let launcher = crate::repo_root().join("tests/moto_server.py");
        let child = Command::new("python3")
            .arg(launcher)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs (scripts/test.sh installs it and moto[server])");
        let mut server = Self {
            port,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(child) = server.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "tests/moto_server.py exited ({status}): is moto[server] installed for python3?"
                );
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An S3 client for this server with static test credentials and path-style addressing.
    pub fn client(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .force_path_style(true)
            .credentials_provider(credentials())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// The environment that points a hookline process's AWS config chain at this server.
    pub fn aws_env(&self) -> [(&'static str, String); 5] {
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// An SQS client for this server with static test credentials.
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .credentials_provider(credentials())
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }

    /// Creates the queue `name` (FIFO when it ends in `.fifo`) and returns its URL.
    pub async fn create_queue(&self, name: &str) -> String {
        let mut request = self.sqs().create_queue().queue_name(name);
        if name.ends_with(".fifo") {
            request = request.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
        }
        let created = request.send().await.expect("create the queue");
        created.queue_url.expect("a queue URL")
    }

    /// Every message in the queue at `url`, each read once and then made visible again, as
    /// (body, string attributes).
    pub async fn messages(
        &self,
        url: &str,
    ) -> Vec<(String, std::collections::HashMap<String, String>)> {
        let client = self.sqs();
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut receipts = Vec::new();
        loop {
            let got = client
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(60)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .send()
                .await
                .expect("receive");
            let fresh: Vec<_> = got
                .messages
                .unwrap_or_default()
                .into_iter()
                .filter(|m| seen.insert(m.message_id.clone().unwrap_or_default()))
                .collect();
            if fresh.is_empty() {
                break;
            }
            for m in fresh {
                receipts.push(m.receipt_handle.clone().unwrap_or_default());
                let attributes = m
                    .message_attributes
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(k, v)| Some((k, v.string_value?)))
                    .collect();
                out.push((m.body.unwrap_or_default(), attributes));
            }
        }
        for chunk in receipts.chunks(10) {
            let entries = chunk.iter().enumerate().map(|(i, receipt)| {
                aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(receipt)
                    .visibility_timeout(0)
                    .build()
                    .expect("an entry")
            });
            client
                .change_message_visibility_batch()
                .queue_url(url)
                .set_entries(Some(entries.collect()))
                .send()
                .await
                .expect("make the messages visible again");
        }
        out
    }

    /// How many messages the queue at `url` holds, visible or in flight.
    pub async fn queue_depth(&self, url: &str) -> u64 {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let got = self
            .sqs()
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes");
        let attributes = got.attributes.unwrap_or_default();
        [
            A::ApproximateNumberOfMessages,
            A::ApproximateNumberOfMessagesNotVisible,
        ]
        .iter()
        .map(|a| {
            attributes
                .get(a)
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
    }

    /// Stops the server, as an outage would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The static credentials moto accepts.
fn credentials() -> Credentials {
    Credentials::new("test", "test", None, None, "hookline-tests")
}
