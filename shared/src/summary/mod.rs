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
//! The counts' hash layout and the counting script are `crate::redis::counts`.

mod aggregate;
mod highlights;

pub(crate) use aggregate::run_within;
pub use aggregate::{GROUP, run};
pub use highlights::{Count, TYPES, counts};

pub use crate::clock::{DateError, date, day_of, parse_date};
pub use crate::redis::counts::{COUNTS_TTL, DUPLICATES, EVENTS, FIRST, LAST, field, parse_field};
