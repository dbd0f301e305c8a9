//! From the `redis` section to redis-rs clients: URLs, ACL credentials, TLS certificates
//! (rustls; a private CA, a client certificate for `tls-auth-clients yes`), and the three
//! shapes — one server, a Cluster, a master found through Sentinel.
//!
//! Certificate files are read when the connection is set up; an unreadable or empty file is
//! a config error naming the key and the file. Errors never carry a password.

use std::path::Path;

use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    Client, ClientTlsConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, TlsCertificates,
    TlsMode,
};

use crate::config::{ConfigError, RedisConfig, TlsFiles};

/// The certificates of `redis.tls`, read from their files; `None` for plain TCP.
#[derive(Clone)]
pub(super) struct Tls {
    /// PEM contents, when any file is given; else the system's trust roots apply.
    certificates: Option<TlsCertificates>,
}

impl Tls {
    /// Reads the files `config` names (nothing for plain TCP).
    pub fn load(config: &RedisConfig) -> Result<Option<Self>, ConfigError> {
        if !config.uses_tls() {
            return Ok(None);
        }
        let files = config.tls.clone().unwrap_or_default();
        let TlsFiles {
            ca_file,
            cert_file,
            key_file,
        } = files;
        let read = |key: &str, path: &Option<std::path::PathBuf>| {
            path.as_deref().map(|path| read_pem(key, path)).transpose()
        };
        let root_cert = read("redis.tls.ca_file", &ca_file)?;
        let client_cert = read("redis.tls.cert_file", &cert_file)?;
        let client_key = read("redis.tls.key_file", &key_file)?;
        let client_tls = match (client_cert, client_key) {
            (Some(client_cert), Some(client_key)) => Some(ClientTlsConfig {
                client_cert,
                client_key,
            }),
            _ => None,
        };
        let certificates =
            (root_cert.is_some() || client_tls.is_some()).then_some(TlsCertificates {
                client_tls,
                root_cert,
            });
        Ok(Some(Self { certificates }))
    }
}

/// A PEM file's bytes; a config error at `key` when it cannot be read or holds no PEM block.
fn read_pem(key: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ConfigError::at(key, format!("cannot read {}: {e}", path.display())))?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(ConfigError::at(
            key,
            format!("{} holds no PEM block (-----BEGIN …)", path.display()),
        ));
    }
    Ok(bytes)
}

/// `url` as connection info with the section's credentials, over TLS when `tls` is set.
pub(super) fn connection_info(
    url: &str,
    config: &RedisConfig,
    tls: Option<&Tls>,
) -> Result<ConnectionInfo, ConfigError> {
    let info = url
        .into_connection_info()
        .map_err(|e| ConfigError::at(url_key(config), format!("is not a valid Redis URL ({e})")))?;
    let mut settings = info.redis_settings().clone();
    if let Some(user) = &config.username {
        settings = settings.set_username(user);
    }
    if let Some(password) = &config.password {
        settings = settings.set_password(password.expose());
    }
    let info = info.set_redis_settings(settings);
    let addr = match (info.addr().clone(), tls) {
        (ConnectionAddr::Tcp(host, port), Some(_)) => ConnectionAddr::TcpTls {
            host,
            port,
            insecure: false,
            tls_params: None,
        },
        (addr, _) => addr,
    };
    Ok(info.set_addr(addr))
}

/// A client for one server.
pub(super) fn client(info: ConnectionInfo, tls: Option<&Tls>) -> Result<Client, ConfigError> {
    let built = match tls.and_then(|t| t.certificates.clone()) {
        Some(certificates) => Client::build_with_tls(info, certificates),
        None => Client::open(info),
    };
    built.map_err(|e| ConfigError::at("redis", format!("cannot set up the connection: {e}")))
}

/// A client for a Redis Cluster seeded by `nodes`.
pub(super) fn cluster_client(
    nodes: Vec<ConnectionInfo>,
    tls: Option<&Tls>,
    config: &RedisConfig,
) -> Result<ClusterClient, ConfigError> {
    let mut builder = ClusterClientBuilder::new(nodes)
        .connection_timeout(config.connect_timeout.get())
        .response_timeout(config.response_timeout.get());
    if let Some(tls) = tls {
        builder = builder.tls(TlsMode::Secure);
        if let Some(certificates) = tls.certificates.clone() {
            builder = builder.certs(certificates);
        }
    }
    builder.build().map_err(|e| {
        ConfigError::at(
            "redis",
            format!("cannot set up the cluster connection: {e}"),
        )
    })
}

/// A client that asks the sentinels `urls` for the master `sentinel_master`.
pub(super) fn sentinel_client(
    config: &RedisConfig,
    tls: Option<&Tls>,
) -> Result<SentinelClient, ConfigError> {
    let mut sentinels = Vec::new();
    for url in config.nodes() {
        sentinels.push(connection_info(&url, config, tls)?.addr().clone());
    }
    let master = config.sentinel_master.clone().unwrap_or_default();
    let failed =
        |e: redis::RedisError| ConfigError::at("redis", format!("cannot set up Sentinel: {e}"));
    let mut builder = SentinelClientBuilder::new(sentinels, master, SentinelServerType::Master)
        .map_err(failed)?;
    if let Some(user) = &config.sentinel_username {
        builder = builder.set_client_to_sentinel_username(user);
    }
    if let Some(password) = &config.sentinel_password {
        builder = builder.set_client_to_sentinel_password(password.expose());
    }
    if let Some(user) = &config.username {
        builder = builder.set_client_to_redis_username(user);
    }
    if let Some(password) = &config.password {
        builder = builder.set_client_to_redis_password(password.expose());
    }
    if let Some(tls) = tls {
        builder = builder
            .set_client_to_sentinel_tls_mode(TlsMode::Secure)
            .set_client_to_redis_tls_mode(TlsMode::Secure);
        if let Some(certificates) = tls.certificates.clone() {
            builder = builder
                .set_client_to_sentinel_certificates(certificates.clone())
                .set_client_to_redis_certificates(certificates);
        }
    }
    builder.build().map_err(failed)
}

/// A failure to connect that no retry will mend — refused credentials, an untrusted
/// certificate, a client certificate missing or refused — as the config error to stop with
/// (one line, naming the key to fix; never a password). `None` for anything else (Redis
/// down, a timeout): the process starts, answers 503 and recovers when Redis is back.
pub fn startup_problem(e: &redis::RedisError, config: &RedisConfig) -> Option<ConfigError> {
    let text = error_chain(e);
    let host = config
        .nodes()
        .first()
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    if super::Failure::of(e) == super::Failure::Auth
        || text.contains("WRONGPASS")
        || text.contains("NOAUTH")
    {
        let user = config.username.as_deref().unwrap_or("default");
        return Some(ConfigError::at(
            "redis.password",
            format!(
                "Redis refused the credentials of user {user} ({})",
                first_line(&text)
            ),
        ));
    }
    let certificate = |key: &str, what: String| Some(ConfigError::at(key, what));
    if text.contains("invalid peer certificate") || text.contains("UnknownIssuer") {
        let reason = if text.contains("NotValidForName") || text.contains("not valid for name") {
            format!("the certificate of {host} does not name that host")
        } else {
            format!("the certificate of {host} is not signed by a trusted CA")
        };
        let hint = match &config.tls {
            Some(TlsFiles {
                ca_file: Some(ca), ..
            }) => format!("{reason} (redis.tls.ca_file is {})", ca.display()),
            _ => format!("{reason}; set redis.tls.ca_file to the CA that signed it"),
        };
        return certificate("redis.tls.ca_file", hint);
    }
    if text.contains("CertificateRequired") || text.contains("certificate required") {
        return certificate(
            "redis.tls.cert_file",
            format!(
                "{host} requires a client certificate (tls-auth-clients yes): set redis.tls.cert_file and key_file"
            ),
        );
    }
    if text.contains("UnknownCA")
        || text.contains("BadCertificate")
        || text.contains("bad certificate")
    {
        return certificate(
            "redis.tls.cert_file",
            format!("{host} refused the client certificate (not signed by a CA it trusts)"),
        );
    }
    None
}

/// The error and its sources, joined.
fn error_chain(e: &redis::RedisError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

fn url_key(config: &RedisConfig) -> &'static str {
    match config.urls.is_empty() {
        true => "redis.url",
        false => "redis.urls",
    }
}

/// Installs rustls's process-wide crypto provider (aws-lc-rs) once; later calls, and a
/// provider another part of the process installed first, are fine.
pub(super) fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
