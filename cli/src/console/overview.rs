//! The overview: tier sizes, rates and lag as charts, lag per group and partition, dead
//! letters, rejects by reason (read from the ingest processes' `/metrics`, `console.scrape`),
//! circuit breakers and the last job runs.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::IntoResponse;
use hookline_shared::metrics::INGEST_REQUESTS;
use maud::{Markup, html};

use super::auth::Session;
use super::history::{self, Sample};
use super::page::{self, PageResult};
use super::{BASE, Console, breakers, chart};
use crate::commands::stats::{self, Cold};

/// Job runs listed.
const JOB_RUNS_SHOWN: usize = 10;

/// The overview page.
pub async fn page(
    State(console): State<Console>,
    axum::Extension(session): axum::Extension<Session>,
) -> PageResult {
    let ctx = console.ctx();
    let now = ctx.clock.now_ms();
    let rows = stats::partitions(ctx).await?;
    let cold = stats::cold_objects_last_day(&ctx.config, now).await;
    let rejects = rejects(&console).await;
    let breakers = breakers::states(&console).await?;
    let runs = job_runs(&console).await?;
    let samples = console.0.history.samples();
    let total = |f: fn(&stats::Row) -> u64| rows.iter().map(f).sum::<u64>();
    let body = html! {
        div.cards {
            div.card { b #hot-events { (total(|r| r.length)) } "hot events" }
            div.card { b { (total(|r| r.warm_segments)) } "warm segments, " (bytes(total(|r| r.warm_bytes))) }
            div.card { b { (cold_text(&cold)) } "cold objects (today and yesterday)" }
            div.card { b #dlq-total { (total(|r| r.dlq)) } "dead letters" }
            div.card { b { (total(|r| r.suspects)) } "suspects" }
            div.card { b #lag-total { (total(lag)) } "lag (entries not yet read)" }
        }
        h2 { "Last hours" }
        (charts(&samples, console.0.history.every))
        h2 { "Lag per group and partition" }
        table #lag {
            tr { th { "partition" } th { "group" } th { "consumers" } th { "pending" } th { "lag" } th { "oldest hot" } th { "dead letters" } }
            @for r in &rows {
                @if r.groups.is_empty() {
                    tr { td.n { (r.partition) } td.muted { "(no groups yet)" } td {} td {} td {} td { (oldest(now, r)) } td.n { (r.dlq) } }
                }
                @for g in &r.groups {
                    tr {
                        td.n { (r.partition) } td { (g.name) } td.n { (g.consumers) } td.n { (g.pending) }
                        td.n { (g.lag.map_or_else(|| "?".to_owned(), |l| l.to_string())) }
                        td { (oldest(now, r)) } td.n { (r.dlq) }
                    }
                }
            }
        }
        h2 { "Rejects by reason" }
        (rejects_table(&rejects))
        h2 { "Circuit breakers" }
        (breakers::table(&breakers, &session))
        h2 { "Last job runs" }
        @if runs.is_empty() { p.muted { "No scheduled run recorded yet." } }
        @else {
            table {
                tr { th { "at" } th { "job" } th { "outcome" } th { "took" } th { "detail" } }
                @for run in &runs {
                    tr { td { (run.at) } td { (run.job) } td { (run.outcome) } td.n { (run.duration_ms) " ms" } td { (run.detail) } }
                }
            }
        }
        p.muted { "Refresh the page for new figures; " a href={ (BASE) "/events" } { "search events" } "." }
    };
    Ok(page::layout("Overview", &session, body).into_response())
}

fn lag(row: &stats::Row) -> u64 {
    row.groups.iter().filter_map(|g| g.lag).sum()
}

fn oldest(now: u64, row: &stats::Row) -> String {
    row.oldest_ms
        .map_or_else(|| "-".to_owned(), |ms| stats::age(now, ms))
}

fn cold_text(cold: &Cold) -> String {
    match cold {
        Cold::NotConfigured => "no archive".to_owned(),
        Cold::Objects(n) => n.to_string(),
        Cold::Unavailable(why) => format!("unavailable: {why}"),
    }
}

fn bytes(n: u64) -> String {
    bytesize::ByteSize(n).display().iec().to_string()
}

fn charts(samples: &[Sample], every: std::time::Duration) -> Markup {
    html! {
        div.charts {
            (chart::line("Ingest", "events/s", &history::rates(samples, |s| s.ingested)))
            (chart::line("Deliveries", "reads/s", &history::rates(samples, |s| s.read)))
            (chart::line("Lag", "entries", &history::levels(samples, |s| s.lag)))
            (chart::line("Dead letters", "entries", &history::levels(samples, |s| s.dlq)))
        }
        p.muted { "A sample every " (humantime::format_duration(every)) ", kept 6 hours, since this console started." }
    }
}

/// Non-2xx answers per source and status, summed over the scraped ingest processes, and
/// the scrape targets that could not be read.
#[derive(Debug, Default)]
struct Rejects {
    counts: BTreeMap<(String, String), f64>,
    unreadable: Vec<String>,
}

async fn rejects(console: &Console) -> Rejects {
    let mut rejects = Rejects::default();
    for url in &console.ctx().config.console.scrape {
        let text = match console.0.http.get(url).send().await {
            Ok(r) if r.status().is_success() => r.text().await.ok(),
            _ => None,
        };
        let Some(text) = text else {
            rejects.unreadable.push(url.clone());
            continue;
        };
        for (labels, value) in samples_of(&text, INGEST_REQUESTS) {
            let status = labels.get("status").cloned().unwrap_or_default();
            if !status.starts_with('2') {
                let source = labels.get("source").cloned().unwrap_or_default();
                *rejects.counts.entry((source, status)).or_default() += value;
            }
        }
    }
    rejects
}

fn rejects_table(rejects: &Rejects) -> Markup {
    html! {
        @for url in &rejects.unreadable { p.problem { "cannot read " (url) } }
        @if rejects.counts.values().all(|n| *n == 0.0) {
            p.muted {
                @if rejects.unreadable.is_empty() && rejects.counts.is_empty() {
                    "None recorded (console.scrape lists the ingest processes' /metrics)."
                } @else { "None." }
            }
        } @else {
            table {
                tr { th { "source" } th { "status" } th { "requests" } }
                @for ((source, status), n) in &rejects.counts {
                    @if *n > 0.0 {
                        tr { td { (source) } td { (status) " " (reason(status)) } td.n { (n) } }
                    }
                }
            }
        }
    }
}

/// What ingest means by a status (docs/SPEC.md §3).
fn reason(status: &str) -> &'static str {
    match status {
        "400" => "malformed request",
        "401" => "bad or missing signature",
        "404" => "unknown source",
        "408" => "request too slow",
        "413" => "payload too large",
        "415" => "unsupported content type",
        "429" => "rate limited",
        "503" => "Redis unavailable",
        _ => "",
    }
}

/// The samples of metric `name` in Prometheus text: each one's labels and value.
fn samples_of<'a>(
    text: &'a str,
    name: &'a str,
) -> impl Iterator<Item = (BTreeMap<String, String>, f64)> + 'a {
    text.lines().filter_map(move |line| {
        let rest = line.strip_prefix(name)?;
        let (labels, value) = match rest.strip_prefix('{') {
            Some(inner) => {
                let (labels, value) = inner.split_once('}')?;
                (labels, value)
            }
            None if rest.starts_with(' ') => ("", rest),
            None => return None,
        };
        let labels = labels
            .split(',')
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                Some((k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
            })
            .collect();
        Some((labels, value.split_whitespace().next()?.parse().ok()?))
    })
}

/// One run of a scheduled job.
struct JobRun {
    at: String,
    job: String,
    outcome: String,
    duration_ms: String,
    detail: String,
}

async fn job_runs(console: &Console) -> redis::RedisResult<Vec<JobRun>> {
    type Fields = std::collections::HashMap<String, String>;
    let runs: Vec<(String, Fields)> = redis::cmd("XREVRANGE")
        .arg(console.keys().job_runs())
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(JOB_RUNS_SHOWN)
        .query_async(&mut console.ctx().redis.shared())
        .await?;
    Ok(runs
        .into_iter()
        .map(|(id, mut f)| {
            let ms = hookline_shared::redis::streams::entry_order(&id).0;
            let mut take = |k: &str| f.remove(k).unwrap_or_default();
            JobRun {
                at: page::time(ms),
                job: take("job"),
                outcome: take("outcome"),
                duration_ms: take("duration_ms"),
                detail: take("detail"),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_request_counts_are_read_from_prometheus_text() {
        let text = "# TYPE hookline_ingest_requests_total counter\n\
            hookline_ingest_requests_total{source=\"github\",status=\"401\"} 3\n\
            hookline_ingest_requests_total{status=\"202\",source=\"github\"} 10\n\
            hookline_ingest_requests_total_other 5\n";
        let samples: Vec<_> = samples_of(text, "hookline_ingest_requests_total").collect();
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].0["status"], "401");
        assert_eq!(samples[0].1, 3.0);
        assert_eq!(samples[1].0["source"], "github");
    }
}
