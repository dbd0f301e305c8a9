//! `summarize`: renders a UTC day's summaries from the counts the summary consumer group and
//! the ingest script kept (`hookline_shared::summary`), per tenant and source, as JSON for
//! machines and Markdown for people. They are stored in the archive under
//! `summaries/date=YYYY-MM-DD/tenant={t}/source={s}.{json,md}` and in Redis
//! (`{prefix}:summaries:{date}`) for [`KEEP`]. Rendering again (late events) overwrites both.
//! The day's audit trail goes to the archive beside them, as `audit/date=YYYY-MM-DD.jsonl`
//! (one entry per line, as `hookline audit list --json` prints it), so it outlives the
//! capped stream.

mod render;

use std::collections::BTreeMap;
use std::time::Duration;

use hookline_shared::audit;
use hookline_shared::config::{Config, PrivacyConfig};
use hookline_shared::privacy::Masker;
use hookline_shared::redis::{RedisConn, counts, streams};
use hookline_shared::streams::Keys;
use hookline_shared::summary::{self, DUPLICATES, EVENTS, FIRST, LAST};
use serde::{Deserialize, Serialize};

use hookline_shared::objects::{ArchiveStore, StoreError};

pub use hookline_shared::summary::{date, day_of, parse_date};

/// How long rendered summaries stay in Redis.
pub const KEEP: Duration = Duration::from_secs(7 * 86_400);

/// Why a summary could not be rendered or stored.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    /// Redis failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The archive failed.
    #[error("archive store: {0}")]
    Store(#[from] StoreError),
}

/// What a summarize run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SummaryReport {
    /// Tenant/source pairs summarized.
    pub summaries: u64,
    /// Events counted in them.
    pub events: u64,
    /// Audit entries of the day copied to the archive.
    pub audit_entries: u64,
}

/// One tenant's source on one UTC day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaySummary {
    /// The day, `YYYY-MM-DD`.
    pub date: String,
    /// The tenant.
    pub tenant: String,
    /// The source.
    pub source: String,
    /// The source's provider, when the source is still configured.
    pub provider: Option<String>,
    /// Events appended.
    pub events: i64,
    /// Repeats answered as duplicates (window and bloom).
    pub duplicates: i64,
    /// Entries of this source dead-lettered that day, by any group.
    pub dead_letters: i64,
    /// First and last event time, RFC 3339.
    pub first_event_at: Option<String>,
    /// See `first_event_at`.
    pub last_event_at: Option<String>,
    /// Events per type.
    pub event_types: BTreeMap<String, i64>,
    /// The provider template's counters, each by key (repository, actor, currency, …).
    pub highlights: BTreeMap<String, BTreeMap<String, i64>>,
}

/// Renders and stores every summary of `day` (days since the epoch).
pub async fn summarize(
    config: &Config,
    conn: &mut RedisConn,
    store: Option<&dyn ArchiveStore>,
    day: i64,
) -> Result<SummaryReport, SummaryError> {
    let summaries = collect(config, conn, day).await?;
    let date = date(day);
    let keys = Keys::new(config.streams.prefix.clone());
    let mut report = SummaryReport::default();
    let mut rendered = Vec::new();
    for s in summaries.values() {
        let s = &without_people(s, &config.privacy);
        let json = serde_json::to_vec_pretty(s).expect("summaries serialize");
        let markdown = render::markdown(s).into_bytes();
        let name = format!("tenant={}/source={}", s.tenant, s.source);
        if let Some(store) = store {
            store
                .put(&format!("summaries/date={date}/{name}.json"), json.clone())
                .await?;
            store
                .put(
                    &format!("summaries/date={date}/{name}.md"),
                    markdown.clone(),
                )
                .await?;
        }
        rendered.push((format!("{name}.json"), json));
        rendered.push((format!("{name}.md"), markdown));
        report.summaries += 1;
        report.events += s.events as u64;
    }
    counts::store_rendered(conn, &keys.summaries(&date), &rendered, KEEP).await?;
    if let Some(store) = store {
        report.audit_entries = archive_audit(conn, &keys, store, day).await?;
    }
    Ok(report)
}

/// The highlight counters whose keys are people: (provider, counter, the payload member it
/// counts by).
const PERSONAL: &[(&str, &str, &[&str])] = &[("github", "actors", &["sender", "login"])];

/// `s` with the keys of its personal counters replaced by `actor 1`, `actor 2`, … (by rank)
/// where `privacy` masks the member they count by: a summary is read by people who need the
/// shape of a day, not who did what (the counts hash keeps the names for 4 days).
fn without_people(s: &DaySummary, privacy: &PrivacyConfig) -> DaySummary {
    let mut s = s.clone();
    let provider = s.provider.clone().unwrap_or_default();
    let masker = Masker::for_provider(privacy, &provider);
    for (_, counter, member) in PERSONAL.iter().filter(|(p, ..)| *p == provider) {
        if let Some(counts) = s.highlights.get_mut(*counter)
            && masker.masks(member)
        {
            *counts = pseudonyms(counts);
        }
    }
    s
}

/// `counts` re-keyed `actor N` by rank (most first, ties by key), N zero-padded so the keys
/// sort by rank too.
fn pseudonyms(counts: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    let mut ranked: Vec<(&String, &i64)> = counts.iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let width = ranked.len().to_string().len();
    ranked
        .into_iter()
        .enumerate()
        .map(|(i, (_, n))| (format!("actor {:0width$}", i + 1), *n))
        .collect()
}

/// Writes `day`'s audit entries to `audit/date=YYYY-MM-DD.jsonl` (none: no object); returns
/// how many.
async fn archive_audit(
    conn: &mut RedisConn,
    keys: &Keys,
    store: &dyn ArchiveStore,
    day: i64,
) -> Result<u64, SummaryError> {
    let start = u64::try_from(day).unwrap_or(0) * 86_400_000;
    let entries = audit::since(conn, keys, start).await?;
    let mut lines = Vec::new();
    let mut n = 0;
    for entry in entries.iter().take_while(|e| e.at_ms < start + 86_400_000) {
        serde_json::to_writer(&mut lines, entry).expect("audit entries serialize");
        lines.push(b'\n');
        n += 1;
    }
    if n > 0 {
        store
            .put(&format!("audit/date={}.jsonl", date(day)), lines)
            .await?;
    }
    Ok(n)
}

/// Merges the partitions' counts and the dead letters of `day`.
pub async fn collect(
    config: &Config,
    conn: &mut RedisConn,
    day: i64,
) -> Result<BTreeMap<(String, String), DaySummary>, SummaryError> {
    let keys = Keys::new(config.streams.prefix.clone());
    let date = date(day);
    let mut out: BTreeMap<(String, String), DaySummary> = BTreeMap::new();
    for partition in 0..config.streams.partitions {
        let day_counts = counts::read_day(conn, &keys.summary_counts(partition, &date)).await?;
        for (field, value) in day_counts {
            let Some((tenant, source, counter, key)) = summary::parse_field(&field) else {
                continue;
            };
            let value: i64 = value.parse().unwrap_or_default();
            let s = entry(&mut out, config, &date, tenant, source);
            match (counter, key) {
                (EVENTS, None) => s.events += value,
                (DUPLICATES, None) => s.duplicates += value,
                // RFC 3339 strings of one format sort as their times do.
                (FIRST, None) => {
                    s.first_event_at = s
                        .first_event_at
                        .take()
                        .into_iter()
                        .chain(rfc3339(value))
                        .min();
                }
                (LAST, None) => {
                    s.last_event_at = s
                        .last_event_at
                        .take()
                        .into_iter()
                        .chain(rfc3339(value))
                        .max();
                }
                (summary::TYPES, Some(key)) => {
                    *s.event_types.entry(key.to_owned()).or_default() += value;
                }
                (counter, Some(key)) => {
                    *s.highlights
                        .entry(counter.to_owned())
                        .or_default()
                        .entry(key.to_owned())
                        .or_default() += value;
                }
                _ => {}
            }
        }
        for (tenant, source) in dead_letters(conn, &keys.dlq(partition), day).await? {
            entry(&mut out, config, &date, &tenant, &source).dead_letters += 1;
        }
    }
    Ok(out)
}

/// The summary of `tenant`'s `source`, created empty on first use.
fn entry<'a>(
    out: &'a mut BTreeMap<(String, String), DaySummary>,
    config: &Config,
    date: &str,
    tenant: &str,
    source: &str,
) -> &'a mut DaySummary {
    out.entry((tenant.to_owned(), source.to_owned()))
        .or_insert_with(|| DaySummary {
            date: date.to_owned(),
            tenant: tenant.to_owned(),
            source: source.to_owned(),
            provider: config
                .sources
                .get(source)
                .map(|s| s.provider.as_str().to_owned()),
            ..DaySummary::default()
        })
}

/// The tenant and source of each entry dead-lettered on `day`.
async fn dead_letters(
    conn: &mut RedisConn,
    dlq: &str,
    day: i64,
) -> Result<Vec<(String, String)>, SummaryError> {
    let (start, end) = (day * 86_400_000, (day + 1) * 86_400_000 - 1);
    let mut from = start.to_string();
    let mut out = Vec::new();
    loop {
        let bounds = (1000, streams::PAGE_BYTES);
        let page = streams::range_bounded(conn, dlq, (&from, &end.to_string()), bounds).await?;
        let Some(last) = page.last() else {
            return Ok(out);
        };
        from = format!("({}", last.id());
        for letter in page.into_iter().filter_map(streams::Entry::into_event) {
            let event: serde_json::Value =
                serde_json::from_str(letter.text("event")).unwrap_or_default();
            let text = |name: &str| {
                event
                    .get(name)
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_owned()
            };
            out.push((text("tenant"), text("source")));
        }
    }
}

fn rfc3339(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn github_day() -> DaySummary {
        let mut s = DaySummary {
            provider: Some("github".into()),
            ..DaySummary::default()
        };
        let actors = s.highlights.entry("actors".into()).or_default();
        for (login, n) in [("mona", 2), ("octocat", 5), ("hubot", 2)] {
            actors.insert(login.into(), n);
        }
        s.highlights
            .entry("pushes".into())
            .or_default()
            .insert("o/r".into(), 1);
        s
    }

    #[test]
    fn actors_are_ranked_without_names_unless_privacy_allows_them() {
        let masked = without_people(&github_day(), &PrivacyConfig::default());
        let actors: Vec<(&str, i64)> = masked.highlights["actors"]
            .iter()
            .map(|(k, n)| (k.as_str(), *n))
            .collect();
        assert_eq!(actors, [("actor 1", 5), ("actor 2", 2), ("actor 3", 2)]);
        assert_eq!(masked.highlights["pushes"]["o/r"], 1, "repositories stay");
        let open = PrivacyConfig {
            provider_defaults: false,
            ..PrivacyConfig::default()
        };
        assert_eq!(without_people(&github_day(), &open), github_day());
    }

    #[test]
    fn pseudonyms_sort_by_rank_past_nine() {
        let counts: BTreeMap<String, i64> = (0..12).map(|i| (format!("u{i}"), 100 - i)).collect();
        let keys: Vec<String> = pseudonyms(&counts).into_keys().collect();
        assert_eq!(keys[0], "actor 01");
        assert_eq!(keys[11], "actor 12");
    }
}
