//! GitHub's webhook deliveries API as `recover-github` uses it: a hook's deliveries, newest
//! first, a hundred a page, following the `Link` header's cursor; and a redelivery request.
//! Every request carries `User-Agent: hookline/VERSION` and the hook's credentials (a token,
//! or a JWT signed with the GitHub App's key), never logged. GitHub's limits are obeyed: once
//! `X-RateLimit-Remaining` is down to [`RESERVE`] nothing more is sent; a secondary limit
//! (403/429 with `Retry-After`) is waited out a few times, then the run stops.

use std::sync::Mutex;
use std::time::Duration;

use hookline_shared::config::GithubHook;
use hookline_shared::secret::Secret;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderValue};
use serde::Deserialize;

/// Requests of the hour's allowance left to whatever else uses the token.
pub const RESERVE: u64 = 50;
/// Waits for a secondary limit within one run before it stops.
const SECONDARY_RETRIES: u32 = 3;
/// The longest `Retry-After` waited out within a run.
const LONGEST_WAIT: Duration = Duration::from_secs(60);
/// Per request.
const TIMEOUT: Duration = Duration::from_secs(30);

/// One delivery attempt, as GitHub lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// GitHub's id of this attempt.
    pub id: u64,
    /// The event's id, the `X-GitHub-Delivery` header: every attempt of an event shares it.
    pub guid: String,
    /// When it was attempted, ms since the epoch.
    pub delivered_at_ms: u64,
    /// What hookline answered; 0 when nothing was answered.
    pub status_code: u16,
    /// The event's name (`push`, …).
    pub event: String,
}

#[derive(Deserialize)]
struct WireDelivery {
    id: u64,
    guid: String,
    delivered_at: String,
    #[serde(default)]
    status_code: u16,
    #[serde(default)]
    event: String,
}

/// One page of a hook's deliveries.
#[derive(Debug)]
pub struct Page {
    /// Newest first.
    pub deliveries: Vec<Delivery>,
    /// The next (older) page's URL.
    pub next: Option<String>,
}

/// Why the run sends nothing more to GitHub.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stop {
    /// The hour's allowance is down to the reserve.
    #[error(
        "GitHub's rate limit: {remaining} request(s) left this hour, {RESERVE} kept in reserve"
    )]
    Reserve {
        /// `X-RateLimit-Remaining`.
        remaining: u64,
    },
    /// A secondary rate limit outlasted the retries.
    #[error("GitHub's secondary rate limit persisted after {SECONDARY_RETRIES} wait(s)")]
    Secondary,
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The run stops for a rate limit; the next carries on.
    #[error(transparent)]
    Stopped(#[from] Stop),
    /// The request did not get an answer.
    #[error("cannot reach GitHub: {0}")]
    Transport(#[source] reqwest::Error),
    /// GitHub refused the request.
    #[error("GitHub answered {status} to {what}: {message}")]
    Refused {
        /// What was asked.
        what: &'static str,
        /// The status.
        status: StatusCode,
        /// GitHub's `message`, if any.
        message: String,
    },
    /// An answer that is not the documented shape.
    #[error("unexpected answer from GitHub to {what}: {why}")]
    Unexpected {
        /// What was asked.
        what: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// The App's private key or the JWT cannot be made.
    #[error("recover.github: {0}")]
    Credentials(String),
}

enum Auth {
    Token(Secret<str>),
    App {
        app_id: u64,
        key: jsonwebtoken::EncodingKey,
    },
}

/// A client for one watched hook.
pub struct GitHub {
    http: reqwest::Client,
    /// `{api_url}/{hook path}`.
    base: String,
    /// What every URL this client follows must start with.
    root: String,
    auth: Auth,
    stop: Mutex<Option<Stop>>,
}

impl GitHub {
    /// A client for `hook`.
    pub fn new(hook: &GithubHook) -> Result<Self, ApiError> {
        let auth = match (&hook.token, hook.app_id, &hook.private_key) {
            (Some(token), ..) => Auth::Token(token.clone()),
            (None, Some(app_id), Some(pem)) => Auth::App {
                app_id,
                key: jsonwebtoken::EncodingKey::from_rsa_pem(pem.expose().as_bytes()).map_err(
                    |_| {
                        ApiError::Credentials("private_key is not an RSA private key in PEM".into())
                    },
                )?,
            },
            _ => return Err(ApiError::Credentials("the hook has no credentials".into())),
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert(
            "x-github-api-version",
            HeaderValue::from_static("2022-11-28"),
        );
        let http = reqwest::Client::builder()
            .user_agent(concat!("hookline/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(ApiError::Transport)?;
        let root = hook.api_url.trim_end_matches('/').to_owned();
        Ok(Self {
            http,
            base: format!("{root}/{}", hook.path()),
            root: format!("{root}/"),
            auth,
            stop: Mutex::new(None),
        })
    }

    /// The first (newest) page's URL.
    pub fn first_page(&self) -> String {
        format!("{}/deliveries?per_page=100", self.base)
    }

    /// The page at `url` (the first, or a `next` of the page before).
    pub async fn page(&self, url: &str) -> Result<Page, ApiError> {
        const WHAT: &str = "the list of deliveries";
        let response = self.send(WHAT, || self.http.get(url)).await?;
        let next = next_link(response.headers())
            .map(|next| {
                next.starts_with(&self.root)
                    .then_some(next)
                    .ok_or_else(|| ApiError::Unexpected {
                        what: WHAT,
                        why: "a Link to another host (not followed)".into(),
                    })
            })
            .transpose()?;
        let wire: Vec<WireDelivery> = response.json().await.map_err(|e| ApiError::Unexpected {
            what: WHAT,
            why: e.to_string(),
        })?;
        let deliveries = wire
            .into_iter()
            .map(|d| {
                let at = humantime::parse_rfc3339(&d.delivered_at).map_err(|e| {
                    ApiError::Unexpected {
                        what: WHAT,
                        why: format!("delivered_at {:?}: {e}", d.delivered_at),
                    }
                })?;
                let ms = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                Ok(Delivery {
                    id: d.id,
                    guid: d.guid,
                    delivered_at_ms: ms.as_millis() as u64,
                    status_code: d.status_code,
                    event: d.event,
                })
            })
            .collect::<Result<_, ApiError>>()?;
        Ok(Page { deliveries, next })
    }

    /// Asks GitHub to deliver the attempt `id`'s event again; GitHub answers 202.
    pub async fn redeliver(&self, id: u64) -> Result<(), ApiError> {
        let url = format!("{}/deliveries/{id}/attempts", self.base);
        self.send("a redelivery", || self.http.post(&url))
            .await
            .map(|_| ())
    }

    /// Sends a request built by `request` with the credentials, obeying the rate limits.
    async fn send(
        &self,
        what: &'static str,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ApiError> {
        let mut waits = 0;
        loop {
            if let Some(stop) = self.stop.lock().unwrap().clone() {
                return Err(stop.into());
            }
            let response = request()
                .header(header::AUTHORIZATION, self.authorization()?)
                .send()
                .await
                .map_err(ApiError::Transport)?;
            let remaining = number(response.headers(), "x-ratelimit-remaining");
            let status = response.status();
            if status == StatusCode::FORBIDDEN || status == StatusCode::TOO_MANY_REQUESTS {
                if let Some(wait) = number(response.headers(), "retry-after") {
                    if waits == SECONDARY_RETRIES {
                        return Err(self.stopped(Stop::Secondary));
                    }
                    waits += 1;
                    let wait = Duration::from_secs(wait).min(LONGEST_WAIT);
                    tracing::warn!(
                        wait_s = wait.as_secs(),
                        "GitHub's secondary rate limit: waiting as told"
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
                if remaining == Some(0) {
                    return Err(self.stopped(Stop::Reserve { remaining: 0 }));
                }
            }
            if let Some(remaining) = remaining.filter(|r| *r <= RESERVE) {
                self.stopped(Stop::Reserve { remaining });
            }
            if !status.is_success() {
                let message = response
                    .json::<serde_json::Value>()
                    .await
                    .ok()
                    .and_then(|v| v["message"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                return Err(ApiError::Refused {
                    what,
                    status,
                    message,
                });
            }
            return Ok(response);
        }
    }

    /// Remembers that nothing more is sent this run.
    fn stopped(&self, stop: Stop) -> ApiError {
        *self.stop.lock().unwrap() = Some(stop.clone());
        stop.into()
    }

    fn authorization(&self) -> Result<HeaderValue, ApiError> {
        let bearer = match &self.auth {
            Auth::Token(token) => format!("Bearer {}", token.expose()),
            Auth::App { app_id, key } => format!("Bearer {}", app_jwt(*app_id, key)?),
        };
        let mut value = HeaderValue::from_str(&bearer)
            .map_err(|_| ApiError::Credentials("the token is not a valid header value".into()))?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// A JWT that authenticates as the App: issued a minute ago (clock drift), valid nine more.
fn app_jwt(app_id: u64, key: &jsonwebtoken::EncodingKey) -> Result<String, ApiError> {
    #[derive(serde::Serialize)]
    struct Claims {
        iat: u64,
        exp: u64,
        iss: String,
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = Claims {
        iat: now - 60,
        exp: now + 540,
        iss: app_id.to_string(),
    };
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    jsonwebtoken::encode(&header, &claims, key)
        .map_err(|e| ApiError::Credentials(format!("cannot sign the App's JWT: {e}")))
}

/// A header's value as a number.
fn number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.trim().split_once(';')?;
        let next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"");
        next.then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_jwt_is_rs256_signed_by_the_apps_key_and_names_the_app() {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!("testdata/app-key.pem"))
            .unwrap();
        let jwt = app_jwt(123456, &key).unwrap();
        let public =
            jsonwebtoken::DecodingKey::from_rsa_pem(include_bytes!("testdata/app-key.pub.pem"))
                .unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "iat", "iss"]);
        validation.set_issuer(&["123456"]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(&jwt, &public, &validation)
            .unwrap()
            .claims;
        let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
        assert_eq!(lifetime, 600, "GitHub accepts at most 10 minutes");
    }

    #[test]
    fn the_next_link_is_found_among_the_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::LINK,
            HeaderValue::from_static(
                "<https://api.github.com/repos/o/r/hooks/1/deliveries?per_page=100&cursor=v1_2>; rel=\"next\", <https://api.github.com/repos/o/r/hooks/1/deliveries?per_page=100>; rel=\"first\"",
            ),
        );
        assert_eq!(
            next_link(&headers).as_deref(),
            Some("https://api.github.com/repos/o/r/hooks/1/deliveries?per_page=100&cursor=v1_2")
        );
        headers.insert(
            header::LINK,
            HeaderValue::from_static("<https://x/?cursor=1>; rel=\"prev\""),
        );
        assert_eq!(next_link(&headers), None);
        assert_eq!(next_link(&HeaderMap::new()), None);
    }
}
