//! The public listener of `hookline serve`: HTTP/1.1 and HTTP/2 (h2c, prior knowledge) with
//! bounds that a hostile or broken client cannot get around.
//!
//! - **Connections**: at most `server.max_connections` are served; beyond it, new ones wait in
//!   the kernel's accept backlog (and are refused there when it is full), never crash the
//!   process for file descriptors.
//! - **Header timeout**: from a request's first byte, its request line and headers must arrive
//!   within `server.header_timeout`, else the connection is closed — a client that sends its
//!   headers one byte a second holds a connection for seconds, not forever.
//! - **Idle timeout**: a connection with no request in flight and no bytes arriving for
//!   `server.idle_timeout` is closed.
//! - Bodies are bounded by the handler (`max_payload`, `body_timeout`, the memory budget).
//!
//! hyper's own HTTP/1 header timer also runs while a keep-alive connection waits for its next
//! request, which would make the two timeouts one; instead each connection is watched from
//! outside: its socket reads and its requests in flight mark a small activity record, which a
//! per-connection watchdog compares with the two timeouts (the same way for both protocols).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hookline_shared::config::ServerConfig;
use hookline_shared::ingest::PeerAddr;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long a stopping server lets requests in flight finish.
const DRAIN: Duration = Duration::from_secs(30);

/// The timeouts and limits of the public listener.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// `server.header_timeout`.
    pub header_timeout: Duration,
    /// `server.idle_timeout`.
    pub idle_timeout: Duration,
    /// `server.max_connections`.
    pub max_connections: usize,
}

impl From<&ServerConfig> for Bounds {
    fn from(server: &ServerConfig) -> Self {
        Self {
            header_timeout: server.header_timeout.get(),
            idle_timeout: server.idle_timeout.get(),
            max_connections: server.max_connections,
        }
    }
}

/// Serves `app` on `listener` within `bounds` until `shutdown`, then lets the requests in
/// flight finish (at most [`DRAIN`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    bounds: Bounds,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(bounds.max_connections));
    let connections = TaskTracker::new();
    let stopping = CancellationToken::new();
    let mut accept_failing = false;
    loop {
        let slot = tokio::select! {
            () = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => slot.map_err(io::Error::other)?,
        };
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                if accept_failing {
                    tracing::info!("accepting connections again");
                    accept_failing = false;
                }
                accepted
            }
            Err(e) => {
                // EMFILE and friends: say so once, wait a moment, try again.
                if !accept_failing {
                    tracing::error!(error = %e, "cannot accept connections; retrying");
                    accept_failing = true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (app, stopping) = (app.clone(), stopping.clone());
        connections.spawn(async move {
            connection(stream, peer, app, bounds, stopping).await;
            drop(slot);
        });
    }
    connections.close();
    stopping.cancel();
    if tokio::time::timeout(DRAIN, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(drain = ?DRAIN, "requests still in flight after the drain; closing");
    }
    Ok(())
}

/// Serves one connection until it ends, a timeout closes it, or `stopping` asks it to finish.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    bounds: Bounds,
    stopping: CancellationToken,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(PeerAddr(peer.ip()));
        let in_flight = requests.begin();
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await;
            drop(in_flight);
            Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
        }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let served = builder.serve_connection(io, service);
    tokio::pin!(served);
    let tick = (bounds.header_timeout.min(bounds.idle_timeout) / 4)
        .clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut watchdog = tokio::time::interval(tick);
    let mut draining = false;
    loop {
        tokio::select! {
            result = served.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = stopping.cancelled(), if !draining => {
                served.as_mut().graceful_shutdown();
                draining = true;
            }
            _ = watchdog.tick() => {
                if let Some(why) = activity.expired(bounds) {
                    tracing::debug!(%peer, why, "closing the connection");
                    return;
                }
            }
        }
    }
}

/// What a connection did lately, in ms since it opened.
struct Activity {
    opened: Instant,
    /// When the last byte arrived.
    last_read: AtomicU64,
    /// When the first byte of a request whose headers are not complete yet arrived, plus
    /// one; 0 when there is none.
    request_started: AtomicU64,
    /// Requests being handled.
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            last_read: AtomicU64::new(0),
            request_started: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    /// Bytes arrived: with no request in flight, they begin one.
    fn read(&self) {
        self.read_at(self.now());
    }

    fn read_at(&self, now: u64) {
        self.last_read.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            let _ = self.request_started.compare_exchange(
                0,
                now + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    /// A request's headers are complete: it is in flight until the guard drops.
    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.request_started.store(0, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// Why the connection should be closed now, if it should.
    fn expired(&self, bounds: Bounds) -> Option<&'static str> {
        self.expired_at(self.now(), bounds)
    }

    fn expired_at(&self, now: u64, bounds: Bounds) -> Option<&'static str> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let started = self.request_started.load(Ordering::Relaxed);
        if started > 0 {
            let waited = Duration::from_millis(now.saturating_sub(started - 1));
            return (waited > bounds.header_timeout).then_some("header timeout");
        }
        let idle =
            Duration::from_millis(now.saturating_sub(self.last_read.load(Ordering::Relaxed)));
        (idle > bounds.idle_timeout).then_some("idle timeout")
    }
}

/// A request in flight on a connection.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.last_read.store(activity.now(), Ordering::Relaxed);
        activity.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A socket whose reads mark the connection's activity.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds = Bounds {
        header_timeout: Duration::from_millis(30),
        idle_timeout: Duration::from_millis(60),
        max_connections: 1,
    };

    #[test]
    fn a_request_that_began_must_finish_its_headers_in_time() {
        let activity = Arc::new(Activity::new());
        activity.read_at(10);
        assert_eq!(activity.expired_at(35, BOUNDS), None);
        activity.read_at(38); // a trickle does not restart the header clock
        assert_eq!(activity.expired_at(41, BOUNDS), Some("header timeout"));
    }

    #[test]
    fn a_request_in_flight_is_never_cut_and_an_idle_connection_is() {
        let activity = Arc::new(Activity::new());
        activity.read_at(0);
        let in_flight = activity.begin();
        assert_eq!(activity.expired_at(1_000, BOUNDS), None);
        drop(in_flight); // marks the time it finished: now, a few µs after opening
        assert_eq!(activity.expired_at(50, BOUNDS), None);
        assert_eq!(activity.expired_at(100, BOUNDS), Some("idle timeout"));
    }
}
