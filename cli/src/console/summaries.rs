//! The daily per-tool summaries (`job summarize`), rendered, for a chosen UTC day.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use hookline_shared::clock;
use maud::html;
use serde::Deserialize;

use super::auth::Session;
use super::page::{self, PageError, PageResult, given};
use super::{BASE, Console};

/// Which day.
#[derive(Debug, Default, Deserialize)]
pub struct Day {
    date: Option<String>,
}

/// The day's rendered summaries (`{prefix}:summaries:{date}`), one section per tenant and
/// source.
pub async fn page(
    State(console): State<Console>,
    axum::Extension(session): axum::Extension<Session>,
    Query(day): Query<Day>,
) -> PageResult {
    let day = match given(&day.date) {
        Some(text) => {
            clock::parse_date(&text).map_err(|e| PageError::bad_request(e.to_string()))?
        }
        None => clock::day_of(console.ctx().clock.now_ms()),
    };
    let date = clock::date(day);
    let rendered: BTreeMap<String, String> = redis::cmd("HGETALL")
        .arg(console.keys().summaries(&date))
        .query_async(&mut console.ctx().redis.shared())
        .await?;
    let markdown: Vec<(&str, &str)> = rendered
        .iter()
        .filter_map(|(name, text)| Some((name.strip_suffix(".md")?, text.as_str())))
        .collect();
    let other_day = |day: i64| {
        let date = clock::date(day);
        html! { a href={ (BASE) "/summaries?date=" (date) } { (date) } }
    };
    let body = html! {
        form method="get" action={ (BASE) "/summaries" } {
            label { "day (UTC)" input name="date" value=(date) size="10"; }
            button type="submit" { "Show" }
            " ← " (other_day(day - 1)) " · " (other_day(day + 1)) " →"
        }
        @if markdown.is_empty() {
            p.muted { "No summary of " (date) " (job summarize writes yesterday's each night; `hookline job summarize --date " (date) "` writes one now; Redis keeps them 7 days, the archive for good)." }
        }
        @for (name, text) in markdown {
            h2 { (name) }
            pre { (text) }
        }
    };
    Ok(page::layout(&format!("Summaries of {date}"), &session, body).into_response())
}
