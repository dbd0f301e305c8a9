//! The `server` section: the public HTTP server of `hookline serve` — where it listens, and
//! the bounds that keep hostile or broken clients from starving it (connection and header
//! timeouts, a connection limit, a memory budget for bodies, a process-wide rate limit) — and
//! which proxies may say who the client is.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Deserializer};

use super::ConfigError;
use super::units::{Duration, Rate, Size};

/// The container HTTP server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address `hookline serve` listens on; `--listen` overrides it.
    pub listen: SocketAddr,
    /// How long a sender may take to send a whole request body; slower ones get 408.
    pub body_timeout: Duration,
    /// How long the request line and headers may take from a request's first byte; a client
    /// that sends them slower is disconnected.
    pub header_timeout: Duration,
    /// How long a keep-alive connection may stay open with no request; then it is closed.
    pub idle_timeout: Duration,
    /// Connections served at once; beyond it new ones wait in the accept backlog.
    pub max_connections: usize,
    /// Bytes of request bodies held at once (being read or waiting to be stored); a request
    /// that would pass it is answered 503 + `Retry-After` at once instead of buffered.
    pub max_in_flight_bytes: Size,
    /// Requests per period admitted by the whole process, before any source's own limit.
    pub rate_limit: Option<Rate>,
    /// Proxies whose `X-Forwarded-For` is believed: the client is the right-most address not
    /// in this list. Without it, the client is the socket's peer.
    pub trusted_proxies: Vec<Cidr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            body_timeout: Duration::secs(30),
            header_timeout: Duration::secs(10),
            idle_timeout: Duration::secs(60),
            max_connections: 10_000,
            max_in_flight_bytes: Size::mib(128),
            rate_limit: None,
            trusted_proxies: Vec::new(),
        }
    }
}

impl ServerConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("header_timeout", self.header_timeout),
            ("idle_timeout", self.idle_timeout),
            ("body_timeout", self.body_timeout),
        ] {
            if value.get().is_zero() {
                return Err(ConfigError::at(
                    format!("server.{key}"),
                    "must be greater than 0",
                ));
            }
        }
        if self.max_connections == 0 {
            return Err(ConfigError::at(
                "server.max_connections",
                "must be at least 1",
            ));
        }
        if self.max_in_flight_bytes.bytes() == 0 {
            return Err(ConfigError::at(
                "server.max_in_flight_bytes",
                "must be greater than 0",
            ));
        }
        Ok(())
    }

    /// Whether `addr` is one of the trusted proxies.
    pub fn is_trusted_proxy(&self, addr: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(addr))
    }
}

/// An address range, written `10.0.0.0/8`, `2001:db8::/32` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr(ipnet::IpNet);

impl Cidr {
    /// Whether `addr` is in the range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        self.0.contains(&addr)
    }
}

impl std::str::FromStr for Cidr {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        s.parse::<ipnet::IpNet>()
            .or_else(|_| s.parse::<IpAddr>().map(ipnet::IpNet::from))
            .map(Cidr)
            .map_err(|_| "not an address range; write e.g. 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32")
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::Cidr;

    #[test]
    fn ranges_and_single_addresses_parse_and_match() {
        let net: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!net.contains("127.0.0.1".parse().unwrap()));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
    }
}
