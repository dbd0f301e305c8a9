//! Which failed deliveries to ask for again: pure decisions over what GitHub listed, what
//! hookline stored and what earlier runs asked for.

use std::collections::{HashMap, HashSet};

use hookline_shared::redis::recover::Asked;

use super::api::Delivery;

/// A guid none of whose listed attempts succeeded, with its newest failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// The event's id (`X-GitHub-Delivery`).
    pub guid: String,
    /// The newest failed attempt, the one to redeliver.
    pub delivery: u64,
    /// When that attempt was made, ms.
    pub delivered_at_ms: u64,
    /// The event's name.
    pub event: String,
}

/// Whether hookline answered the attempt with a 2xx (0, no answer, is a failure).
fn succeeded(delivery: &Delivery) -> bool {
    (200..300).contains(&delivery.status_code)
}

/// The guids of `deliveries` none of whose attempts succeeded, oldest first.
pub fn failed(deliveries: &[Delivery]) -> Vec<Failed> {
    let ok: HashSet<&str> = deliveries
        .iter()
        .filter(|d| succeeded(d))
        .map(|d| d.guid.as_str())
        .collect();
    let mut newest: HashMap<&str, &Delivery> = HashMap::new();
    for d in deliveries.iter().filter(|d| !ok.contains(d.guid.as_str())) {
        let entry = newest.entry(&d.guid).or_insert(d);
        if d.id > entry.id {
            *entry = d;
        }
    }
    let mut failed: Vec<Failed> = newest
        .into_values()
        .map(|d| Failed {
            guid: d.guid.clone(),
            delivery: d.id,
            delivered_at_ms: d.delivered_at_ms,
            event: d.event.clone(),
        })
        .collect();
    failed.sort_by_key(|f| (f.delivered_at_ms, f.delivery));
    failed
}

/// What to do about a failed guid hookline has not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Ask for a redelivery of its newest failed attempt.
    Ask,
    /// A redelivery was already asked for this failure (GitHub has not made it yet, or it is
    /// not listed yet).
    Waiting,
    /// `max_attempts` redeliveries were asked for and failed.
    Exhausted,
}

/// The decision for `failed`, given what was asked for its guid before.
pub fn decide(failed: &Failed, asked: Asked, max_attempts: u32) -> Decision {
    if asked.delivery >= failed.delivery {
        Decision::Waiting
    } else if asked.count >= max_attempts {
        Decision::Exhausted
    } else {
        Decision::Ask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(id: u64, guid: &str, status_code: u16) -> Delivery {
        Delivery {
            id,
            guid: guid.into(),
            delivered_at_ms: id * 1000,
            status_code,
            event: "push".into(),
        }
    }

    #[test]
    fn a_guid_fails_only_when_none_of_its_attempts_succeeded() {
        let deliveries = [
            attempt(9, "later-ok", 200),
            attempt(8, "never", 0),
            attempt(7, "later-ok", 502),
            attempt(6, "never", 503),
            attempt(5, "ok", 202),
            attempt(4, "accepted-redirect", 302),
        ];
        let failed = failed(&deliveries);
        let guids: Vec<(&str, u64)> = failed
            .iter()
            .map(|f| (f.guid.as_str(), f.delivery))
            .collect();
        assert_eq!(guids, [("accepted-redirect", 4), ("never", 8)]);
    }

    #[test]
    fn each_failure_is_asked_for_once_and_at_most_max_attempts_times() {
        let f = Failed {
            guid: "g".into(),
            delivery: 10,
            delivered_at_ms: 0,
            event: "push".into(),
        };
        assert_eq!(decide(&f, Asked::default(), 3), Decision::Ask);
        let asked = |count, delivery| Asked { count, delivery };
        assert_eq!(decide(&f, asked(1, 10), 3), Decision::Waiting);
        assert_eq!(decide(&f, asked(2, 7), 3), Decision::Ask);
        assert_eq!(decide(&f, asked(3, 7), 3), Decision::Exhausted);
    }
}
