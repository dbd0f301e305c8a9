//! Who may use the console: a login form checked against `console.token`, or the user a
//! trusted proxy names in `console.trusted_user_header`. Either makes a session: a random id
//! in an HttpOnly, SameSite=Strict cookie (Secure behind a TLS proxy), kept in Redis under
//! the id's SHA-256 (`{prefix}:console:session:{hash}`, expiring after `console.session_ttl`)
//! with the user's name and the session's CSRF token. Logging out deletes it, so a copied
//! cookie is worthless afterwards.
//!
//! [`require`] guards every page: without a session a GET is sent to the login form and
//! anything else answers 401; with one, a request that is not a GET must carry the session's
//! CSRF token as its `csrf` form field, else 403.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Form, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use hookline_shared::config::{Cidr, ConsoleConfig};
use hookline_shared::redis::RedisConn;
use hookline_shared::secret::Secret;
use hookline_shared::streams::Keys;
use maud::html;
use redis::RedisResult;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{BASE, Console, page};

/// The session cookie's name.
pub const COOKIE: &str = "hookline_console";

/// The largest form a console POST may send.
const FORM_LIMIT: usize = 64 * 1024;

/// Longest user name kept (from the login form or the proxy's header).
const NAME_LIMIT: usize = 64;

/// A logged-in user, as every page handler receives it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The name the audit trail records.
    pub user: String,
    /// The token every form of this session carries.
    pub csrf: String,
}

/// The console's login settings and its session store.
pub struct Auth {
    token: Option<Secret<str>>,
    header: Option<header::HeaderName>,
    proxies: Vec<Cidr>,
    ttl: Duration,
    keys: Keys,
}

impl Auth {
    /// The settings of `config`; sessions are kept under `keys`' prefix.
    pub fn new(config: &ConsoleConfig, keys: Keys) -> Self {
        Self {
            token: config.token.clone(),
            header: config
                .trusted_user_header
                .as_deref()
                .and_then(|h| header::HeaderName::from_bytes(h.as_bytes()).ok()),
            proxies: config.trusted_proxies.clone(),
            ttl: config.session_ttl.get(),
            keys,
        }
    }

    fn key(&self, cookie: &str) -> String {
        self.keys
            .console_session(&hex::encode(Sha256::digest(cookie.as_bytes())))
    }

    async fn find(&self, conn: &mut RedisConn, cookie: &str) -> RedisResult<Option<Session>> {
        let (user, csrf): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(self.key(cookie))
            .arg("user")
            .arg("csrf")
            .query_async(conn)
            .await?;
        Ok(user.zip(csrf).map(|(user, csrf)| Session { user, csrf }))
    }

    /// A new session for `user`: its cookie value and the session.
    async fn create(&self, conn: &mut RedisConn, user: &str) -> RedisResult<(String, Session)> {
        let cookie = random_hex();
        let session = Session {
            user: user.to_owned(),
            csrf: random_hex(),
        };
        let key = self.key(&cookie);
        redis::pipe()
            .atomic()
            .hset_multiple(&key, &[("user", &session.user), ("csrf", &session.csrf)])
            .ignore()
            .pexpire(&key, self.ttl.as_millis() as i64)
            .ignore()
            .query_async::<()>(conn)
            .await?;
        Ok((cookie, session))
    }

    async fn destroy(&self, conn: &mut RedisConn, cookie: &str) -> RedisResult<()> {
        redis::cmd("DEL")
            .arg(self.key(cookie))
            .query_async(conn)
            .await
    }

    /// The user a trusted proxy names on this request, if it came from one.
    fn proxy_user(&self, request: &Request) -> Option<String> {
        let header = self.header.as_ref()?;
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()?
            .0
            .ip();
        if !self.proxies.iter().any(|net| net.contains(peer)) {
            return None;
        }
        let name = request.headers().get(header)?.to_str().ok()?;
        user_name(name)
    }

    fn token_matches(&self, given: &str) -> bool {
        self.token
            .as_ref()
            .is_some_and(|t| bool::from(t.expose().as_bytes().ct_eq(given.as_bytes())))
    }

    /// The `Set-Cookie` value of a session cookie (`None`: one that clears it).
    fn cookie(&self, value: Option<&str>, headers: &HeaderMap) -> HeaderValue {
        let secure = headers
            .get("x-forwarded-proto")
            .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
        let (value, age) = match value {
            Some(v) => (v, self.ttl.as_secs()),
            None => ("", 0),
        };
        let secure = if secure { "; Secure" } else { "" };
        let text = format!(
            "{COOKIE}={value}; Path={BASE}; HttpOnly; SameSite=Strict; Max-Age={age}{secure}"
        );
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// 32 random bytes as hex.
fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random number generator");
    hex::encode(bytes)
}

/// `name` trimmed to a printable user name of at most [`NAME_LIMIT`] characters.
fn user_name(name: &str) -> Option<String> {
    let name: String = name
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(NAME_LIMIT)
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The session cookie's value on `headers`.
fn cookie_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .filter(|v| !v.is_empty())
}

/// Lets a request through with its [`Session`], or answers for it (see the module doc).
pub async fn require(State(console): State<Console>, request: Request, next: Next) -> Response {
    let auth = &console.0.auth;
    let mut conn = console.ctx().redis.shared();
    let found = match cookie_of(request.headers()) {
        Some(cookie) => auth.find(&mut conn, cookie).await,
        None => Ok(None),
    };
    let (session, new_cookie) = match found {
        Ok(Some(session)) => (session, None),
        Ok(None) => match auth.proxy_user(&request) {
            Some(user) => match auth.create(&mut conn, &user).await {
                Ok((cookie, session)) => (session, Some(cookie)),
                Err(e) => return page::unavailable(&e),
            },
            None if request.method() == Method::GET => {
                return Redirect::to(&format!("{BASE}/login")).into_response();
            }
            None => return (StatusCode::UNAUTHORIZED, "log in first\n").into_response(),
        },
        Err(e) => return page::unavailable(&e),
    };
    let mut request = match request.method() {
        &Method::GET | &Method::HEAD => request,
        _ => match with_csrf_checked(request, &session).await {
            Ok(request) => request,
            Err(refusal) => return refusal,
        },
    };
    request.extensions_mut().insert(session);
    let headers = request.headers().clone();
    let mut response = next.run(request).await;
    if let Some(cookie) = new_cookie {
        let value = auth.cookie(Some(&cookie), &headers);
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `request` again, once its form's `csrf` field is `session`'s token; else the refusal.
async fn with_csrf_checked(request: Request, session: &Session) -> Result<Request, Response> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, FORM_LIMIT)
        .await
        .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "form too large\n").into_response())?;
    let given = form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == "csrf")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    if !bool::from(given.as_bytes().ct_eq(session.csrf.as_bytes())) {
        tracing::warn!(user = %session.user, path = %parts.uri.path(), "console POST without its CSRF token refused");
        return Err((StatusCode::FORBIDDEN, "missing or wrong CSRF token\n").into_response());
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// What the login form sends.
#[derive(Debug, Deserialize)]
pub struct Login {
    /// Who logs in, for the audit trail.
    name: String,
    /// `console.token`.
    token: String,
}

/// The login form.
pub async fn login_form(State(console): State<Console>) -> Response {
    login_page(&console, None, StatusCode::OK)
}

fn login_page(console: &Console, problem: Option<&str>, status: StatusCode) -> Response {
    let token = console.0.auth.token.is_some();
    let body = html! {
        h1 { "hookline console" }
        @if let Some(problem) = problem { p.problem { (problem) } }
        @if token {
            form method="post" action={ (BASE) "/login" } {
                label { "Your name (for the audit trail) " input name="name" required autocomplete="username"; }
                label { "Console token " input type="password" name="token" required autocomplete="current-password"; }
                button type="submit" { "Log in" }
            }
        } @else {
            p { "Log in through your organisation's proxy." }
        }
    };
    (status, page::bare("Log in", body)).into_response()
}

/// Checks the token and starts a session.
pub async fn login(
    State(console): State<Console>,
    headers: HeaderMap,
    Form(form): Form<Login>,
) -> Response {
    let auth = &console.0.auth;
    let Some(user) = user_name(&form.name) else {
        return login_page(&console, Some("Give your name."), StatusCode::BAD_REQUEST);
    };
    if !auth.token_matches(&form.token) {
        tracing::warn!(user = %user, "console login with a wrong token refused");
        // Slows guessing; a 16+ character token is out of reach anyway.
        tokio::time::sleep(Duration::from_millis(300)).await;
        return login_page(&console, Some("Wrong token."), StatusCode::UNAUTHORIZED);
    }
    let mut conn = console.ctx().redis.shared();
    match auth.create(&mut conn, &user).await {
        Ok((cookie, _)) => {
            tracing::info!(user = %user, "console login");
            let mut response = Redirect::to(BASE).into_response();
            let value = auth.cookie(Some(&cookie), &headers);
            response.headers_mut().append(header::SET_COOKIE, value);
            response
        }
        Err(e) => page::unavailable(&e),
    }
}

/// Ends the session.
pub async fn logout(
    State(console): State<Console>,
    axum::Extension(session): axum::Extension<Session>,
    headers: HeaderMap,
) -> Response {
    let auth = &console.0.auth;
    if let Some(cookie) = cookie_of(&headers)
        && let Err(e) = auth
            .destroy(&mut console.ctx().redis.shared(), cookie)
            .await
    {
        return page::unavailable(&e);
    }
    tracing::info!(user = %session.user, "console logout");
    let mut response = Redirect::to(&format!("{BASE}/login")).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, auth.cookie(None, &headers));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; hookline_console=abc; b=2"),
        );
        assert_eq!(cookie_of(&headers), Some("abc"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("hookline_consolex=1"),
        );
        assert_eq!(cookie_of(&headers), None);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("hookline_console="),
        );
        assert_eq!(cookie_of(&headers), None);
    }

    #[test]
    fn user_names_are_trimmed_printable_and_bounded() {
        assert_eq!(user_name("  ada \n").as_deref(), Some("ada"));
        assert_eq!(user_name(" \t "), None);
        assert_eq!(user_name(&"x".repeat(100)).unwrap().len(), NAME_LIMIT);
    }
}
