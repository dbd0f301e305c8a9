//! The one place that says what a Redis error means for hookline: whether the connection is
//! gone, the server is no longer (or not yet) a writable master, the cluster is moving, a
//! script must be loaded, memory is full, or the credentials are wrong.

use redis::{ErrorKind, RedisError, ServerErrorKind};

/// What went wrong, as far as the caller's next step is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The connection broke, was refused or timed out; it reconnects by itself.
    ConnectionLost,
    /// `READONLY`: the server is a replica now (a failover demoted it). The connection
    /// must find the new master.
    ReadOnly,
    /// `MASTERDOWN`: a replica that lost its master refuses to serve.
    MasterDown,
    /// `LOADING`: the server is loading its data set after a restart.
    Loading,
    /// `TRYAGAIN` / `CLUSTERDOWN`, or a redirection not followed: a Redis Cluster slot is
    /// moving or a part of the cluster is down.
    ClusterMoving,
    /// `NOSCRIPT`: the script cache is empty (a restart or a failover).
    NoScript,
    /// `OOM`: `maxmemory` is reached (and the policy is `noeviction`, as it must be).
    OutOfMemory,
    /// `WRONGPASS`, `NOAUTH`, `NOPERM` or a failed `AUTH`: the credentials or the ACL.
    Auth,
    /// `WAIT` came back with fewer replicas than required.
    NotReplicated,
    /// Anything else: a bug, a wrong type, a script error.
    Other,
}

impl Failure {
    /// Classifies `e`.
    pub fn of(e: &RedisError) -> Self {
        match e.kind() {
            ErrorKind::Server(ServerErrorKind::ReadOnly) => return Self::ReadOnly,
            ErrorKind::Server(ServerErrorKind::MasterDown) => return Self::MasterDown,
            ErrorKind::Server(ServerErrorKind::BusyLoading) => return Self::Loading,
            ErrorKind::Server(
                ServerErrorKind::TryAgain
                | ServerErrorKind::ClusterDown
                | ServerErrorKind::Moved
                | ServerErrorKind::Ask,
            ) => return Self::ClusterMoving,
            ErrorKind::Server(ServerErrorKind::NoScript) => return Self::NoScript,
            ErrorKind::Server(ServerErrorKind::NoPerm) | ErrorKind::AuthenticationFailed => {
                return Self::Auth;
            }
            ErrorKind::Client if e.detail().is_some_and(|d| d.starts_with(NOT_REPLICATED)) => {
                return Self::NotReplicated;
            }
            _ => {}
        }
        match e.code() {
            Some("OOM") => Self::OutOfMemory,
            Some("WRONGPASS" | "NOAUTH" | "NOPERM") => Self::Auth,
            Some("READONLY") => Self::ReadOnly,
            Some("MASTERDOWN") => Self::MasterDown,
            Some("LOADING") => Self::Loading,
            _ if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() => {
                Self::ConnectionLost
            }
            _ if e.kind() == ErrorKind::ClusterConnectionNotFound => Self::ConnectionLost,
            _ => Self::Other,
        }
    }

    /// Whether the server we reached is not (or no longer) the writable master, so the
    /// connection should find the master again (re-resolve a name, ask the sentinels).
    pub fn wants_new_master(self) -> bool {
        matches!(
            self,
            Self::ReadOnly | Self::MasterDown | Self::NotReplicated
        )
    }

    /// Whether trying again later may succeed without anyone changing anything: the 503 +
    /// `Retry-After` kind of failure.
    pub fn is_transient(self) -> bool {
        !matches!(self, Self::Auth | Self::Other)
    }
}

/// The detail of the error [`not_replicated`] makes.
const NOT_REPLICATED: &str = "fewer replicas than redis.wait.replicas confirmed the write";

/// The error for a `WAIT` that came back with `got` of `wanted` replicas.
pub fn not_replicated(got: u64, wanted: u32) -> RedisError {
    RedisError::from((
        ErrorKind::Client,
        "not replicated",
        format!("{NOT_REPLICATED} ({got} of {wanted})"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: &str) -> RedisError {
        redis::make_extension_error(code.to_owned(), Some("detail".into()))
    }

    #[test]
    fn server_errors_are_told_apart() {
        assert_eq!(Failure::of(&server("OOM")), Failure::OutOfMemory);
        assert_eq!(Failure::of(&server("WRONGPASS")), Failure::Auth);
        assert_eq!(Failure::of(&server("NOAUTH")), Failure::Auth);
        let io = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(Failure::of(&io), Failure::ConnectionLost);
        let timeout = RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert_eq!(Failure::of(&timeout), Failure::ConnectionLost);
        assert!(Failure::ReadOnly.wants_new_master());
        assert!(!Failure::ConnectionLost.wants_new_master());
        assert!(!Failure::Auth.is_transient());
    }

    #[test]
    fn a_short_wait_is_not_replicated() {
        let e = not_replicated(0, 1);
        assert_eq!(Failure::of(&e), Failure::NotReplicated);
        assert!(e.to_string().contains("0 of 1"), "{e}");
    }
}
