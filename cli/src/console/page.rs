//! The page shell every console page is drawn in, and the small pieces pages share.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::BASE;
use super::auth::Session;
use crate::CliError;

/// The console's style sheet: small, inline, no external requests.
const STYLE: &str = "
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{background:#1d2430;color:#fff;padding:.6em 1.2em;display:flex;gap:1.2em;align-items:center}
header a{color:#cfe0ff;text-decoration:none}header a:hover{text-decoration:underline}
header .who{margin-left:auto;color:#aab}header form{display:inline}
main{padding:1em 1.2em;max-width:1280px}
h1{font-size:1.4em;margin:.2em 0 .6em}h2{font-size:1.1em;margin:1.4em 0 .4em}
table{border-collapse:collapse;background:#fff;margin:.3em 0 1em}
th,td{border:1px solid #dde1e7;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:.8em}.card{background:#fff;border:1px solid #dde1e7;padding:.6em .9em;min-width:9em}
.card b{display:block;font-size:1.5em}.charts{display:flex;flex-wrap:wrap;gap:.8em}
.chart{background:#fff;border:1px solid #dde1e7;padding:.4em .6em;margin:0}
form.inline{display:inline}label{margin-right:.8em}input,select{margin-left:.3em}
.problem{color:#a40000;font-weight:600}.ok{color:#116611;font-weight:600}
.state-open{color:#a40000;font-weight:600}.state-half_open{color:#a86400;font-weight:600}
pre{background:#fff;border:1px solid #dde1e7;padding:.6em;overflow:auto;max-height:40em}
small,.muted{color:#667}
";

/// A page of the console for a logged-in user, with the navigation and a logout button.
pub fn layout(title: &str, session: &Session, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · hookline" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { "hookline" }
                    a href=(BASE) { "Overview" }
                    a href={ (BASE) "/events" } { "Events" }
                    a href={ (BASE) "/dlq" } { "Dead letters" }
                    a href={ (BASE) "/replay" } { "Replay" }
                    a href={ (BASE) "/summaries" } { "Summaries" }
                    a href={ (BASE) "/breakers" } { "Breakers" }
                    span.who {
                        (session.user) " "
                        form method="post" action={ (BASE) "/logout" } {
                            (csrf(session))
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// A page without navigation (the login form).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " · hookline" }
                style { (PreEscaped(STYLE)) }
            }
            body { main { (body) } }
        }
    }
}

/// The hidden field that carries the session's CSRF token in every form.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// `ms` since the epoch as RFC 3339 with milliseconds.
pub fn time(ms: u64) -> String {
    crate::commands::rfc3339_ms(ms)
}

/// The 503 page of a request that could not reach Redis.
pub fn unavailable(e: &dyn std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "console request failed: Redis unavailable");
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!("Redis is unavailable: {e}"),
    )
}

fn problem(status: StatusCode, text: &str) -> Response {
    let body = html! { p.problem { (text) } p { a href=(BASE) { "Back to the overview" } } };
    (status, bare("Problem", body)).into_response()
}

/// Why a page could not be drawn; answered as a page naming the problem.
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    text: String,
}

impl PageError {
    /// A request the console cannot carry out (400).
    pub fn bad_request(text: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            text: text.into(),
        }
    }

    /// Something that is not there (404).
    pub fn not_found(text: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            text: text.into(),
        }
    }
}

impl From<CliError> for PageError {
    fn from(e: CliError) -> Self {
        let status = match e {
            CliError::Config(_) | CliError::Usage(_) => StatusCode::BAD_REQUEST,
            CliError::Failed(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        Self {
            status,
            text: e.to_string(),
        }
    }
}

impl From<redis::RedisError> for PageError {
    fn from(e: redis::RedisError) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            text: format!("Redis: {e}"),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(error = %self.text, "console page failed");
        }
        problem(self.status, &self.text)
    }
}

/// What a page handler answers.
pub type PageResult = Result<Response, PageError>;

/// An optional form or query field: empty means absent.
pub fn given(field: &Option<String>) -> Option<String> {
    field
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}
