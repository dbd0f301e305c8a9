//! Daily summaries, counted as events flow.
//!
//! A built-in consumer group ([`GROUP`], run by every `hookline consume` and by `dev`) reads
//! every partition and adds each event to its partition's counts for the event's UTC day
//! (`{prefix}:summary:{N}:{date}`, a hash). Counting and acknowledging are one script, so a
//! redelivered entry is never counted twice and an unacknowledged one is counted on
//! redelivery: counts are exact. The ingest script adds the duplicates it answers. Because
//! compaction moves only entries every group acknowledged, an event is counted before it can
//! leave the hot tier, so counts cover hot, warm and cold alike. `job summarize` merges the
//! partitions' counts of a day and renders them ([`crate::summary`] only counts).
//!
//! A count's hash field is `{tenant}\x1f{source}\x1f{counter}` or
//! `{tenant}\x1f{source}\x1f{counter}\x1f{key}` ([`field`]).

mod aggregate;
mod highlights;

use std::time::Duration;

pub use aggregate::{GROUP, run};
pub use highlights::{Count, TYPES, counts};

/// How long a day's counts stay in Redis: long enough for late events and a late
/// `job summarize`.
pub const COUNTS_TTL: Duration = Duration::from_secs(4 * 86_400);

/// Counter of events (no key).
pub const EVENTS: &str = "events";
/// Counter of duplicates answered (no key).
pub const DUPLICATES: &str = "duplicates";
/// Earliest `received_at` (ms) of the day (no key; a minimum, not a sum).
pub const FIRST: &str = "first";
/// Latest `received_at` (ms) of the day (no key; a maximum, not a sum).
pub const LAST: &str = "last";

const SEPARATOR: char = '\x1f';

/// The hash field of a count.
pub fn field(tenant: &str, source: &str, counter: &str, key: Option<&str>) -> String {
    let mut field = format!("{tenant}{SEPARATOR}{source}{SEPARATOR}{counter}");
    if let Some(key) = key {
        field.push(SEPARATOR);
        field.push_str(key);
    }
    field
}

/// A field's parts: tenant, source, counter and key.
pub fn parse_field(field: &str) -> Option<(&str, &str, &str, Option<&str>)> {
    let mut parts = field.splitn(4, SEPARATOR);
    Some((parts.next()?, parts.next()?, parts.next()?, parts.next()))
}

/// The UTC day (days since the epoch) of a time in ms.
pub fn day_of(ms: u64) -> i64 {
    (ms / 86_400_000) as i64
}

/// A UTC day as `YYYY-MM-DD`.
pub fn date(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "invalid-date".to_owned())
}

/// A date that is not `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a YYYY-MM-DD date: {reason}")]
pub struct DateError {
    /// What was given.
    pub text: String,
    /// Why it is not a date.
    pub reason: chrono::ParseError,
}

/// The UTC day of a `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> Result<i64, DateError> {
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|reason| DateError {
        text: text.to_owned(),
        reason,
    })?;
    Ok(date
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp() / 86_400)
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let f = field("acme", "gh", "pushes", Some("octo/repo"));
        assert_eq!(
            parse_field(&f),
            Some(("acme", "gh", "pushes", Some("octo/repo")))
        );
        let f = field("acme", "gh", EVENTS, None);
        assert_eq!(parse_field(&f), Some(("acme", "gh", EVENTS, None)));
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(date(day_of(1_764_028_800_000)), "2025-11-25");
        assert_eq!(parse_date("2025-11-25"), Ok(day_of(1_764_028_800_000)));
        assert!(parse_date("25.11.2025").is_err());
    }
}
