//! Replay from the console: a form, then the count of a dry run to confirm, then the replay
//! in the background with a page that refreshes itself with its progress until it ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect};
use hookline_jobs::replay::{ReplayReport, ReplayRequest};
use maud::html;
use serde::Deserialize;

use super::auth::Session;
use super::page::{self, PageError, PageResult, given};
use super::{BASE, Console};
use crate::commands::{jobs, parse_time};

/// Replays kept listed (the oldest finished one is forgotten past this).
const RUNS_KEPT: usize = 20;

/// One replay started from the console.
pub struct Run {
    user: String,
    started_ms: u64,
    asked: String,
    appended: AtomicU64,
    outcome: Mutex<Option<Result<ReplayReport, String>>>,
}

/// The replay form's fields.
#[derive(Debug, Default, Deserialize)]
pub struct Asked {
    from: Option<String>,
    to: Option<String>,
    source: Option<String>,
    event_type: Option<String>,
    /// `yes` once the dry run's count was shown.
    confirm: Option<String>,
}

impl Asked {
    fn request(&self) -> Result<ReplayRequest, PageError> {
        let time = |field: &Option<String>, name: &str| {
            let text =
                given(field).ok_or_else(|| PageError::bad_request(format!("{name}: required")))?;
            parse_time(&text).map_err(|why| PageError::bad_request(format!("{name}: {why}")))
        };
        let request = ReplayRequest {
            from_ms: time(&self.from, "from")?,
            to_ms: time(&self.to, "to")?,
            source: given(&self.source),
            event_type: given(&self.event_type),
            to_stream: None,
            dry_run: self.confirm.as_deref() != Some("yes"),
            suspects: false,
        };
        if request.from_ms >= request.to_ms {
            return Err(PageError::bad_request("from must be before to"));
        }
        Ok(request)
    }

    fn describe(&self) -> String {
        let mut text = format!(
            "{} to {}",
            given(&self.from).unwrap_or_default(),
            given(&self.to).unwrap_or_default()
        );
        for (name, value) in [("source", &self.source), ("event type", &self.event_type)] {
            if let Some(value) = given(value) {
                text.push_str(&format!(", {name} {value}"));
            }
        }
        text
    }
}

/// The replay form and the replays started here.
pub async fn form(
    State(console): State<Console>,
    axum::Extension(session): axum::Extension<Session>,
) -> PageResult {
    let now = console.ctx().clock.now_ms();
    let runs: Vec<(String, Arc<Run>)> = {
        let runs = console.0.replays.lock().unwrap_or_else(|p| p.into_inner());
        let mut runs: Vec<_> = runs.iter().map(|(id, r)| (id.clone(), r.clone())).collect();
        runs.sort_by_key(|(_, r)| std::cmp::Reverse(r.started_ms));
        runs
    };
    let body = html! {
        p { "Re-appends the events received in [from, to) from whichever tier holds them, each with a new id and " code { "replay_of" } " = the original's. You see how many match before anything is appended." }
        form method="post" action={ (BASE) "/replay" } {
            (page::csrf(&session))
            label { "from" input name="from" required value=(page::time(now.saturating_sub(3_600_000))); }
            label { "to" input name="to" required value=(page::time(now)); }
            label { "source" input name="source"; }
            label { "event type" input name="event_type"; }
            button type="submit" { "Count matching events" }
        }
        @if !runs.is_empty() {
            h2 { "Replays from this console" }
            table {
                tr { th { "started" } th { "by" } th { "range" } th {} }
                @for (id, run) in &runs {
                    tr { td { (page::time(run.started_ms)) } td { (run.user) } td { (run.asked) } td { a href={ (BASE) "/replay/" (id) } { "progress" } } }
                }
            }
        }
    };
    Ok(page::layout("Replay", &session, body).into_response())
}

/// The dry run's count to confirm, or, confirmed, the replay started in the background.
pub async fn start(
    State(console): State<Console>,
    axum::Extension(session): axum::Extension<Session>,
    Form(asked): Form<Asked>,
) -> PageResult {
    let request = asked.request()?;
    let auditor = console.auditor(&session);
    if request.dry_run {
        let report = jobs::run_replay(console.ctx(), &request, &auditor, |_| {}).await?;
        let field = |name: &str, value: &Option<String>| {
            html! { input type="hidden" name=(name) value=(given(value).unwrap_or_default()); }
        };
        let body = html! {
            p #matched { strong { (report.matched) } " event(s) match " (asked.describe()) "." }
            @if report.matched > 0 {
                form.inline method="post" action={ (BASE) "/replay" } {
                    (page::csrf(&session))
                    (field("from", &asked.from)) (field("to", &asked.to))
                    (field("source", &asked.source)) (field("event_type", &asked.event_type))
                    input type="hidden" name="confirm" value="yes";
                    button type="submit" { "Replay " (report.matched) " event(s)" }
                }
                " "
            }
            a href={ (BASE) "/replay" } { "Back" }
        };
        return Ok(page::layout("Replay: dry run", &session, body).into_response());
    }
    let id = uuid::Uuid::now_v7().simple().to_string();
    let run = Arc::new(Run {
        user: session.user.clone(),
        started_ms: console.ctx().clock.now_ms(),
        asked: asked.describe(),
        appended: AtomicU64::new(0),
        outcome: Mutex::new(None),
    });
    {
        let mut runs = console.0.replays.lock().unwrap_or_else(|p| p.into_inner());
        if runs.len() >= RUNS_KEPT
            && let Some(oldest) = runs
                .iter()
                .filter(|(_, r)| r.outcome.lock().is_ok_and(|o| o.is_some()))
                .min_by_key(|(_, r)| r.started_ms)
                .map(|(id, _)| id.clone())
        {
            runs.remove(&oldest);
        }
        runs.insert(id.clone(), run.clone());
    }
    tracing::info!(user = %session.user, asked = %run.asked, "console: replay started");
    let ctx = console.ctx().clone();
    tokio::spawn(async move {
        let progress = |n| run.appended.store(n, Ordering::Relaxed);
        let done = jobs::run_replay(&ctx, &request, &auditor, progress).await;
        let outcome = done.map_err(|e| e.to_string());
        *run.outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
    });
    Ok(Redirect::to(&format!("{BASE}/replay/{id}")).into_response())
}

/// A replay's progress; refreshes itself every second until it ends.
pub async fn progress(
    State(console): State<Console>,
    axum::Extension(session): axum::Extension<Session>,
    Path(id): Path<String>,
) -> PageResult {
    let run = console
        .0
        .replays
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&id)
        .cloned()
        .ok_or_else(|| PageError::not_found(format!("No replay {id} on this console.")))?;
    let outcome = run
        .outcome
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let body = html! {
        p { "Started " (page::time(run.started_ms)) " by " (run.user) ": " (run.asked) "." }
        @match &outcome {
            None => p #progress { "Running: " (run.appended.load(Ordering::Relaxed)) " event(s) appended so far…" },
            Some(Ok(r)) => p #progress .ok { "Done: replayed " (r.appended) " of " (r.matched) " matching event(s)"
                @if r.already > 0 { "; " (r.already) " were replayed already" } "." },
            Some(Err(e)) => p #progress .problem { "Stopped: " (e) },
        }
        p { a href={ (BASE) "/replay" } { "Back to replay" } }
    };
    let mut response = page::layout("Replay", &session, body).into_response();
    if outcome.is_none() {
        response
            .headers_mut()
            .insert(header::REFRESH, HeaderValue::from_static("1"));
    }
    Ok(response)
}
