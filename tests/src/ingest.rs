//! Running `hookline serve` in-process on `127.0.0.1:0`, and a small HTTP client.

use std::net::SocketAddr;

use bytes::Bytes;
use hookline_shared::Context;
use hookline_shared::clock::Clock;
use hookline_shared::config::{self, Config};
use http_body_util::{BodyExt, Full};
use hyper::StatusCode;
use hyper::header::HeaderMap;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio_util::sync::CancellationToken;

/// `hookline serve` — the very function the binary runs — on a free loopback port until
/// dropped.
pub struct TestIngest {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The config it runs with.
    pub config: Config,
    /// The context it runs with (its Redis, its clock).
    pub ctx: Context,
    stop: CancellationToken,
}

/// Parses a test's YAML config, with `${VAR}` read from the process environment.
pub fn test_config(yaml: &str) -> Config {
    config::parse(yaml, |name| std::env::var(name).ok())
        .unwrap_or_else(|e| panic!("test config invalid: {e}"))
}

impl TestIngest {
    /// Serves `yaml` with the system clock.
    pub async fn start(yaml: &str) -> Self {
        Self::start_with_clock(yaml, Clock::system()).await
    }

    /// Serves `yaml` reading the time from `clock`.
    pub async fn start_with_clock(yaml: &str, clock: Clock) -> Self {
        let config = test_config(yaml);
        let ctx = Context::with_clock(config.clone(), clock).expect("redis config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let stop = CancellationToken::new();
        tokio::spawn({
            let (ctx, stop) = (ctx.clone(), stop.clone());
            async move {
                hookline_cli::serve::run(&ctx, listener, None, stop)
                    .await
                    .expect("test server runs");
            }
        });
        Self {
            addr,
            config,
            ctx,
            stop,
        }
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for TestIngest {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A response as the tests look at it.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body parsed as JSON (`Null` when empty or not JSON).
    pub json: serde_json::Value,
    /// Raw body.
    pub body: Bytes,
}

/// A pooled HTTP/1 client.
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpConnector, Full<Bytes>>,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self {
            inner: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

impl HttpClient {
    /// Sends `method url` with headers and body.
    pub async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: impl Into<Bytes>,
    ) -> Result<Reply, String> {
        let mut request = hyper::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(body.into()))
            .map_err(|e| e.to_string())?;
        let response = self
            .inner
            .request(request)
            .await
            .map_err(|e| e.to_string())?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            json,
            body,
        })
    }

    /// `POST url` with headers and body; panics on transport errors.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: impl Into<Bytes>,
    ) -> Reply {
        self.send("POST", url, headers, body)
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"))
    }
}
