//! The circuit breakers of the configured HTTP sinks' destinations, with a reset button each
//! (as `hookline reset-circuit-breaker`).

use std::collections::{BTreeSet, HashMap};

use axum::extract::{Form, State};
use axum::response::{IntoResponse, Redirect};
use hookline_shared::config::SinkConfig;
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::Session;
use super::page::{self, PageError, PageResult};
use super::{BASE, Console};
use crate::commands::admin;

/// One destination's breaker.
#[derive(Debug, Clone)]
pub struct BreakerRow {
    /// The destination (a sink URL's origin).
    pub destination: String,
    /// `closed`, `open` or `half_open`.
    pub state: String,
    /// Consecutive failures recorded.
    pub failures: String,
}

/// The breaker of every HTTP sink destination the config names.
pub async fn states(console: &Console) -> redis::RedisResult<Vec<BreakerRow>> {
    let destinations: BTreeSet<String> = console
        .ctx()
        .config
        .consumer
        .groups
        .values()
        .filter_map(|g| match &g.sink {
            SinkConfig::Http { url, .. } => hookline_shared::sinks::destination(url).ok(),
            _ => None,
        })
        .collect();
    let mut conn = console.ctx().redis.shared();
    let mut rows = Vec::new();
    for destination in destinations {
        let mut state: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(console.keys().breaker(&destination))
            .query_async(&mut conn)
            .await?;
        rows.push(BreakerRow {
            destination,
            state: state.remove("state").unwrap_or_else(|| "closed".into()),
            failures: state.remove("failures").unwrap_or_else(|| "0".into()),
        });
    }
    Ok(rows)
}

/// The breakers as a table with reset buttons.
pub fn table(rows: &[BreakerRow], session: &Session) -> Markup {
    html! {
        @if rows.is_empty() { p.muted { "No HTTP sink configured." } }
        @else {
            table #breakers {
                tr { th { "destination" } th { "state" } th { "failures" } th {} }
                @for row in rows {
                    tr {
                        td { (row.destination) }
                        td class={ "state-" (row.state) } { (row.state) }
                        td.n { (row.failures) }
                        td {
                            @if row.state != "closed" {
                                form.inline method="post" action={ (BASE) "/breakers/reset" } {
                                    (page::csrf(session))
                                    input type="hidden" name="destination" value=(row.destination);
                                    button type="submit" { "Reset to closed" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The breakers page.
pub async fn page(
    State(console): State<Console>,
    axum::Extension(session): axum::Extension<Session>,
) -> PageResult {
    let rows = states(&console).await?;
    let body = html! {
        p { "A breaker opens after its sink's consecutive failures and lets a probe through after a while; resetting closes it now." }
        (table(&rows, &session))
    };
    Ok(page::layout("Circuit breakers", &session, body).into_response())
}

/// What the reset button sends.
#[derive(Debug, Deserialize)]
pub struct Reset {
    destination: String,
}

/// Closes a breaker, recorded in the audit trail.
pub async fn reset(
    State(console): State<Console>,
    axum::Extension(session): axum::Extension<Session>,
    Form(form): Form<Reset>,
) -> PageResult {
    tracing::info!(user = %session.user, destination = %form.destination, "console: reset circuit breaker");
    admin::reset_circuit_breaker(console.ctx(), &form.destination, &console.auditor(&session))
        .await
        .map_err(PageError::from)?;
    Ok(Redirect::to(&format!("{BASE}/breakers")).into_response())
}
