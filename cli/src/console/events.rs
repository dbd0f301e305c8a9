//! Event search (by id, or by range, source, type, tenant and state, paginated) and the event
//! page: what `hookline events list|show` print.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use hookline_jobs::replay::ReplayRequest;
use maud::html;
use serde::Deserialize;

use super::auth::Session;
use super::page::{self, PageError, PageResult, given};
use super::{BASE, Console};
use crate::commands::events::{self, EventDetail, ListFilter, Location, Payload, Status};
use crate::commands::parse_time;

/// Events per page.
const PAGE: usize = 50;

/// The search form's fields.
#[derive(Debug, Default, Deserialize)]
pub struct Search {
    id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    source: Option<String>,
    event_type: Option<String>,
    tenant: Option<String>,
    status: Option<String>,
    page: Option<usize>,
}

impl Search {
    fn status(&self) -> Result<Option<Status>, PageError> {
        match given(&self.status).as_deref() {
            None => Ok(None),
            Some("pending") => Ok(Some(Status::Pending)),
            Some("delivered") => Ok(Some(Status::Delivered)),
            Some("dead_lettered") => Ok(Some(Status::DeadLettered)),
            Some(_) => Err(PageError::bad_request(
                "status: pending, delivered or dead_lettered",
            )),
        }
    }

    fn time(field: &Option<String>, name: &str) -> Result<Option<u64>, PageError> {
        given(field)
            .map(|t| parse_time(&t).map_err(|why| PageError::bad_request(format!("{name}: {why}"))))
            .transpose()
    }

    /// This search's query string with `page` set.
    fn link(&self, page: usize) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        let fields = [
            ("from", &self.from),
            ("to", &self.to),
            ("source", &self.source),
            ("event_type", &self.event_type),
            ("tenant", &self.tenant),
            ("status", &self.status),
        ];
        for (name, value) in fields {
            if let Some(value) = given(value) {
                query.append_pair(name, &value);
            }
        }
        query.append_pair("page", &page.to_string());
        format!("{BASE}/events?{}", query.finish())
    }
}

/// The search form and its results; a search by id leads to the event's page.
pub async fn list(
    State(console): State<Console>,
    axum::Extension(session): axum::Extension<Session>,
    Query(search): Query<Search>,
) -> PageResult {
    let ctx = console.ctx();
    if let Some(id) = given(&search.id) {
        return match events::lookup(ctx, &id).await? {
            Some(_) => {
                Ok(Redirect::to(&format!("{BASE}/events/{}", path_segment(&id))).into_response())
            }
            None => Err(PageError::not_found(format!(
                "No event {id} in the hot or warm tier."
            ))),
        };
    }
    let now = ctx.clock.now_ms();
    let request = ReplayRequest {
        from_ms: Search::time(&search.from, "from")?.unwrap_or(now.saturating_sub(3_600_000)),
        to_ms: Search::time(&search.to, "to")?.unwrap_or(now + 1),
        source: given(&search.source),
        event_type: given(&search.event_type),
        to_stream: None,
        dry_run: true,
        suspects: false,
    };
    if request.from_ms >= request.to_ms {
        return Err(PageError::bad_request("from must be before to"));
    }
    let page_no = search.page.unwrap_or(0);
    let filter = ListFilter {
        tenant: given(&search.tenant),
        status: search.status()?,
        skip: page_no * PAGE,
        count: PAGE,
    };
    let rows = events::query(ctx, &request, &filter, false).await?;
    let value = |v: &Option<String>| given(v).unwrap_or_default();
    let status = value(&search.status);
    let body = html! {
        form method="get" action={ (BASE) "/events" } {
            label { "event id" input name="id" size="36" placeholder="0190…"; }
            button type="submit" { "Find" }
        }
        form method="get" action={ (BASE) "/events" } {
            label { "from" input name="from" value=(given(&search.from).unwrap_or_else(|| page::time(request.from_ms))); }
            label { "to" input name="to" value=(value(&search.to)) placeholder="now"; }
            label { "source" input name="source" value=(value(&search.source)); }
            label { "event type" input name="event_type" value=(value(&search.event_type)); }
            label { "tenant" input name="tenant" value=(value(&search.tenant)); }
            label { "state"
                select name="status" {
                    @for (name, label) in [("", "any"), ("pending", "pending"), ("delivered", "delivered"), ("dead_lettered", "dead-lettered")] {
                        option value=(name) selected[status == name] { (label) }
                    }
                }
            }
            button type="submit" { "Search" }
        }
        p.muted { "Hot and warm tiers, oldest first; " (PAGE) " per page." }
        table #events {
            tr { th { "received" } th { "event" } th { "tier" } th { "partition" } th { "state" } th { "tenant" } th { "source" } th { "event type" } th { "bytes" } }
            @for row in &rows {
                @let id = row.event.text("id");
                tr {
                    td { (page::time(row.received_ms())) }
                    td { a href={ (BASE) "/events/" (id) } { (id) } }
                    td { (row.tier.as_str()) } td.n { (row.partition) } td { (row.status.as_str()) }
                    td { (row.event.text("tenant")) } td { (row.event.text("source")) }
                    td { (row.event.text("event_type")) } td.n { (row.event.payload().len()) }
                }
            }
        }
        p {
            @if page_no > 0 { a href=(search.link(page_no - 1)) { "← newer page" } " " }
            @if rows.len() == PAGE { a href=(search.link(page_no + 1)) { "next page →" } }
        }
    };
    Ok(page::layout("Events", &session, body).into_response())
}

/// `text` percent-encoded as one URL path segment (an event id may come from a sender).
fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Whether the event page shows the payload, and its personal fields.
#[derive(Debug, Default, Deserialize)]
pub struct DetailQuery {
    payload: Option<String>,
    pii: Option<String>,
}

/// One event: tier, fields, each group's state, its attempts, and its payload on request.
pub async fn detail(
    State(console): State<Console>,
    axum::Extension(session): axum::Extension<Session>,
    Path(id): Path<String>,
    Query(query): Query<DetailQuery>,
) -> PageResult {
    let Some(detail) = events::lookup(console.ctx(), &id).await? else {
        return Err(PageError::not_found(format!(
            "No event {id} in the hot or warm tier."
        )));
    };
    let payload = match (query.pii.as_deref(), query.payload.as_deref()) {
        (Some("1"), _) => Payload::Whole,
        (_, Some("1")) => Payload::Masked,
        _ => Payload::Omitted,
    };
    if payload == Payload::Whole {
        tracing::info!(user = %session.user, event_id = %id, "console: payload shown with its personal data");
        events::audit_pii_shown(console.ctx(), &console.auditor(&session), &id).await?;
    }
    let shown = detail.payload_shown(&console.ctx().config.privacy, payload);
    let body = html! {
        (summary(&detail))
        h2 { "Groups" }
        table #groups {
            tr { th { "group" } th { "state" } th {} }
            @for (group, state) in &detail.groups {
                tr {
                    td { (group) } td { (state.describe()) }
                    td {
                        @if matches!(state, events::GroupState::DeadLettered) {
                            form.inline method="post" action={ (BASE) "/dlq/retry" } {
                                (page::csrf(&session))
                                input type="hidden" name="partition" value=(detail.partition);
                                input type="hidden" name="group" value=(group);
                                input type="hidden" name="event_id" value=(id);
                                input type="hidden" name="again" value="yes";
                                button type="submit" { "Retry from the DLQ" }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Attempts (" (detail.attempts.len()) ")" }
        table #attempts {
            tr { th { "at" } th { "group" } th { "attempt" } th { "outcome" } th { "status" } th { "took" } th { "error" } }
            @for a in &detail.attempts {
                tr {
                    td { (page::time(a.at_ms)) } td { (a.group) } td.n { "#" (a.attempt) }
                    td class={ "outcome-" (a.outcome.as_str()) } { (a.outcome.as_str()) }
                    td.n { (a.status.map_or_else(|| "-".to_owned(), |s| s.to_string())) }
                    td.n { (format!("{:.1} ms", a.duration_us as f64 / 1000.0)) }
                    td { (a.error.as_deref().unwrap_or("")) }
                }
            }
        }
        h2 { "Payload (" (detail.event.payload().len()) " bytes)" }
        @if let Some(text) = &shown { pre #payload { (text) } }
        p {
            @if payload == Payload::Omitted {
                a href={ (BASE) "/events/" (path_segment(&id)) "?payload=1" } { "Show the payload (personal fields masked)" } " · "
            }
            @if payload != Payload::Whole {
                a href={ (BASE) "/events/" (path_segment(&id)) "?pii=1" } { "Show it with personal data (recorded in the audit trail)" }
            }
        }
    };
    Ok(page::layout(&format!("Event {id}"), &session, body).into_response())
}

fn summary(detail: &EventDetail) -> maud::Markup {
    let tier = match &detail.location {
        Location::Hot => "hot".to_owned(),
        Location::Warm { .. } => "warm".to_owned(),
    };
    html! {
        table #fields {
            tr { th { "tier" } td #tier data-tier=(tier) { (detail.location.describe()) } }
            tr { th { "partition" } td { (detail.partition) " (entry " (detail.event.entry_id) ")" } }
            @for (name, value) in detail.fields() {
                tr {
                    th { (name) }
                    td {
                        (value)
                        @if name == "received_at" && let Ok(ms) = value.parse::<u64>() {
                            " (" (page::time(ms)) ")"
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_safe_path_segments() {
        assert_eq!(super::path_segment("01a2-b3_c.d~"), "01a2-b3_c.d~");
        assert_eq!(super::path_segment("a/b\r\n c"), "a%2Fb%0D%0A%20c");
    }
}
