//! The dead letters: a filtered list, a retry button per letter, and retry or purge of all
//! that match (purge after a confirmation step), as `hookline dlq` does them.

use axum::extract::{Form, Query, State};
use axum::response::IntoResponse;
use hookline_shared::consumer::dlq::{self, DlqFilter};
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::Session;
use super::page::{self, PageError, PageResult, given};
use super::{BASE, Console};
use crate::commands::dlq as commands;

/// Dead letters listed at most.
const SHOWN: usize = 200;

/// Which dead letters (the list's query, or a form's fields).
#[derive(Debug, Default, Deserialize)]
pub struct Which {
    partition: Option<String>,
    source: Option<String>,
    event_type: Option<String>,
    group: Option<String>,
    event_id: Option<String>,
    /// On retry: also those retried before.
    again: Option<String>,
    /// On purge: `yes` once confirmed.
    confirm: Option<String>,
}

impl Which {
    fn filter(&self, count: Option<usize>) -> Result<DlqFilter, PageError> {
        let partition = given(&self.partition)
            .map(|p| p.parse::<u16>())
            .transpose()
            .map_err(|_| PageError::bad_request("partition: not a number"))?;
        Ok(DlqFilter {
            partition,
            source: given(&self.source),
            event_type: given(&self.event_type),
            group: given(&self.group),
            event_id: given(&self.event_id),
            count,
        })
    }

    /// The filter again, as hidden fields of a form.
    fn hidden(&self) -> Markup {
        let fields = [
            ("partition", &self.partition),
            ("source", &self.source),
            ("event_type", &self.event_type),
            ("group", &self.group),
            ("event_id", &self.event_id),
        ];
        html! {
            @for (name, value) in fields {
                @if let Some(value) = given(value) { input type="hidden" name=(name) value=(value); }
            }
        }
    }
}

/// The list with its filter form and actions.
pub async fn page(
    State(console): State<Console>,
    axum::Extension(session): axum::Extension<Session>,
    Query(which): Query<Which>,
) -> PageResult {
    let ctx = console.ctx();
    let filter = which.filter(Some(SHOWN))?;
    let letters = dlq::list(
        &mut ctx.redis.shared(),
        console.keys(),
        ctx.config.streams.partitions,
        &filter,
    )
    .await?;
    let value = |v: &Option<String>| given(v).unwrap_or_default();
    let body = html! {
        form method="get" action={ (BASE) "/dlq" } {
            label { "partition" input name="partition" size="4" value=(value(&which.partition)); }
            label { "source" input name="source" value=(value(&which.source)); }
            label { "event type" input name="event_type" value=(value(&which.event_type)); }
            label { "group" input name="group" value=(value(&which.group)); }
            label { "event id" input name="event_id" size="36" value=(value(&which.event_id)); }
            button type="submit" { "Filter" }
        }
        p { (letters.len()) @if letters.len() == SHOWN { "+" } " dead letter(s) match." }
        @if !letters.is_empty() {
            form.inline method="post" action={ (BASE) "/dlq/retry" } {
                (page::csrf(&session)) (which.hidden())
                label { input type="checkbox" name="again" value="yes"; " also those retried before" }
                button type="submit" { "Retry all matching" }
            }
            " "
            form.inline method="post" action={ (BASE) "/dlq/purge" } {
                (page::csrf(&session)) (which.hidden())
                button type="submit" { "Purge all matching…" }
            }
            table #dead-letters {
                tr { th { "partition" } th { "failed at" } th { "group" } th { "source" } th { "event type" } th { "event" } th { "tries" } th { "error" } th {} }
                @for l in &letters {
                    @let id = l.event.text("id");
                    tr {
                        td.n { (l.partition) }
                        td { (l.failed_at.parse::<u64>().map(page::time).unwrap_or_default()) }
                        td { (l.group) } td { (l.event.text("source")) } td { (l.event.text("event_type")) }
                        td { a href={ (BASE) "/events/" (id) } { (id) } }
                        td.n { (l.attempts) } td { (l.error) }
                        td {
                            @if l.raw.is_none() {
                                form.inline method="post" action={ (BASE) "/dlq/retry" } {
                                    (page::csrf(&session))
                                    input type="hidden" name="partition" value=(l.partition);
                                    input type="hidden" name="group" value=(l.group);
                                    input type="hidden" name="event_id" value=(id);
                                    input type="hidden" name="again" value="yes";
                                    button type="submit" { "Retry" }
                                }
                            } @else { span.muted { "not an event" } }
                        }
                    }
                }
            }
        }
    };
    Ok(page::layout("Dead letters", &session, body).into_response())
}

/// Retries what the form names, recorded in the audit trail.
pub async fn retry(
    State(console): State<Console>,
    axum::Extension(session): axum::Extension<Session>,
    Form(which): Form<Which>,
) -> PageResult {
    let filter = which.filter(None)?;
    let again = which.again.as_deref() == Some("yes");
    tracing::info!(user = %session.user, ?filter, again, "console: dlq retry");
    let report = commands::retry(console.ctx(), filter, again, &console.auditor(&session)).await?;
    let body = html! {
        p.ok { "Re-appended " (report.moved) " dead letter(s) to their hot streams." }
        @if report.retried_before > 0 {
            p { (report.retried_before) " were retried before and failed again: left in the DLQ (tick “also those retried before” to retry them once more)." }
        }
        @if report.unreadable > 0 {
            p { (report.unreadable) " are not events: left in the DLQ, never retried." }
        }
        p { a href={ (BASE) "/dlq" } { "Back to the dead letters" } }
    };
    Ok(page::layout("Retried", &session, body).into_response())
}

/// Purges what the form names once confirmed; before, shows how many that is.
pub async fn purge(
    State(console): State<Console>,
    axum::Extension(session): axum::Extension<Session>,
    Form(which): Form<Which>,
) -> PageResult {
    let ctx = console.ctx();
    let filter = which.filter(None)?;
    if which.confirm.as_deref() != Some("yes") {
        let n = dlq::list(
            &mut ctx.redis.shared(),
            console.keys(),
            ctx.config.streams.partitions,
            &filter,
        )
        .await?
        .len();
        let body = html! {
            p { "This deletes " strong { (n) } " dead letter(s) for good." }
            form.inline method="post" action={ (BASE) "/dlq/purge" } {
                (page::csrf(&session)) (which.hidden())
                input type="hidden" name="confirm" value="yes";
                button type="submit" { "Purge " (n) " dead letter(s)" }
            }
            " " a href={ (BASE) "/dlq" } { "Cancel" }
        };
        return Ok(page::layout("Purge dead letters?", &session, body).into_response());
    }
    tracing::info!(user = %session.user, ?filter, "console: dlq purge");
    let deleted = commands::purge(ctx, filter, &console.auditor(&session)).await?;
    let body = html! {
        p.ok { "Purged " (deleted) " dead letter(s)." }
        p { a href={ (BASE) "/dlq" } { "Back to the dead letters" } }
    };
    Ok(page::layout("Purged", &session, body).into_response())
}
