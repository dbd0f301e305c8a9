//! What one event adds to its day's summary: the counts every source gets (events, events by
//! type) and the highlights of its provider's template.
//!
//! GitHub: pushes and commits per repository, pull requests opened and merged, issues opened
//! and closed per repository, and actors. Stripe: amounts by currency and outcome of payment
//! events. Every provider: events per entity where the payload names one (GitLab project,
//! Slack team, Jira project, …).

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use super::EVENTS;
use crate::event::StoredEvent;

/// One count an event adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    /// The counter, e.g. `pushes`.
    pub counter: &'static str,
    /// What it counts per, e.g. a repository; `None` for totals.
    pub key: Option<String>,
    /// How much it adds.
    pub amount: i64,
}

impl Count {
    fn one(counter: &'static str, key: Option<&str>) -> Self {
        Self {
            counter,
            key: key.map(str::to_owned),
            amount: 1,
        }
    }
}

/// Counter of events per event type.
pub const TYPES: &str = "types";

/// The counts `event` adds to its day.
pub fn counts(event: &StoredEvent) -> Vec<Count> {
    let mut out = vec![
        Count::one(EVENTS, None),
        Count::one(TYPES, Some(event.text("event_type"))),
    ];
    let provider = event.text("provider");
    if provider == "github" {
        // GitHub bodies are large (10 KB is common): read only the fields the template needs
        // and skip the rest without building a tree of it.
        if let Ok(body) = serde_json::from_slice::<GithubBody<'_>>(event.payload()) {
            github(event.text("event_type"), &body, &mut out);
        }
        return out;
    }
    // Bodies that are not JSON (form posts, text) count by type only.
    let Ok(body) = serde_json::from_slice::<Value>(event.payload()) else {
        return out;
    };
    let text = |pointer: &str| body.pointer(pointer).and_then(Value::as_str);
    match provider {
        "stripe" => stripe(event.text("event_type"), &body, &mut out),
        provider => {
            let entity = ENTITY_PATHS
                .iter()
                .filter(|(p, _)| *p == provider)
                .find_map(|(_, pointer)| text(pointer));
            if let Some(entity) = entity {
                out.push(Count::one("entities", Some(entity)));
            }
        }
    }
    out
}

/// Where a provider's payloads name the entity an event is about, in order of preference.
const ENTITY_PATHS: &[(&str, &str)] = &[
    ("gitlab", "/project/path_with_namespace"),
    ("slack", "/team_id"),
    ("shopify", "/domain"),
    ("jira", "/issue/fields/project/key"),
    ("linear", "/data/team/key"),
    ("linear", "/organizationId"),
    ("pagerduty", "/event/data/service/summary"),
];

/// The parts of a GitHub body the template reads.
#[derive(Deserialize)]
struct GithubBody<'a> {
    #[serde(borrow, default)]
    action: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    repository: Option<Named<'a>>,
    #[serde(borrow, default)]
    sender: Option<Login<'a>>,
    #[serde(default)]
    commits: Option<Vec<IgnoredAny>>,
    #[serde(default)]
    pull_request: Option<PullRequest>,
}

#[derive(Deserialize)]
struct Named<'a> {
    #[serde(borrow, default)]
    full_name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Login<'a> {
    #[serde(borrow, default)]
    login: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct PullRequest {
    #[serde(default)]
    merged: Option<bool>,
}

fn github(event_type: &str, body: &GithubBody<'_>, out: &mut Vec<Count>) {
    if let Some(actor) = body.sender.as_ref().and_then(|s| s.login.as_deref()) {
        out.push(Count::one("actors", Some(actor)));
    }
    let repo = body
        .repository
        .as_ref()
        .and_then(|r| r.full_name.as_deref());
    match (event_type, body.action.as_deref()) {
        ("push", _) => {
            out.push(Count::one("pushes", repo));
            out.push(Count {
                counter: "commits",
                key: repo.map(str::to_owned),
                amount: body.commits.as_ref().map_or(0, Vec::len) as i64,
            });
        }
        ("pull_request", Some("opened")) => out.push(Count::one("prs_opened", repo)),
        ("pull_request", Some("closed"))
            if body.pull_request.as_ref().and_then(|p| p.merged) == Some(true) =>
        {
            out.push(Count::one("prs_merged", repo));
        }
        ("issues", Some("opened")) => out.push(Count::one("issues_opened", repo)),
        ("issues", Some("closed")) => out.push(Count::one("issues_closed", repo)),
        _ => {}
    }
}

fn stripe(event_type: &str, body: &Value, out: &mut Vec<Count>) {
    let is_payment = ["payment_intent.", "charge."]
        .iter()
        .any(|p| event_type.starts_with(p));
    let object = body.pointer("/data/object");
    let amount = object.and_then(|o| o.get("amount")).and_then(Value::as_i64);
    let currency = object
        .and_then(|o| o.get("currency"))
        .and_then(Value::as_str);
    if let (true, Some(amount), Some(currency)) = (is_payment, amount, currency) {
        let outcome = event_type.rsplit('.').next().unwrap_or(event_type);
        out.push(Count {
            counter: "amounts",
            key: Some(format!("{currency}:{outcome}")),
            amount,
        });
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn event(provider: &str, event_type: &str, body: &str) -> StoredEvent {
        let fields = [
            ("provider", provider),
            ("event_type", event_type),
            ("payload", body),
        ];
        StoredEvent {
            entry_id: "1-0".into(),
            fields: fields
                .iter()
                .map(|(n, v)| ((*n).to_owned(), Bytes::copy_from_slice(v.as_bytes())))
                .collect(),
        }
    }

    fn has(counts: &[Count], counter: &str, key: &str, amount: i64) -> bool {
        counts
            .iter()
            .any(|c| c.counter == counter && c.key.as_deref() == Some(key) && c.amount == amount)
    }

    #[test]
    fn github_push_counts_pushes_commits_and_the_actor() {
        let body =
            r#"{"repository":{"full_name":"o/r"},"sender":{"login":"ana"},"commits":[{},{}]}"#;
        let counts = counts(&event("github", "push", body));
        assert!(has(&counts, "pushes", "o/r", 1));
        assert!(has(&counts, "commits", "o/r", 2));
        assert!(has(&counts, "actors", "ana", 1));
        assert!(has(&counts, TYPES, "push", 1));
    }

    #[test]
    fn github_merged_pull_requests_count_only_when_merged() {
        let merged = r#"{"action":"closed","repository":{"full_name":"o/r"},"pull_request":{"merged":true}}"#;
        assert!(has(
            &counts(&event("github", "pull_request", merged)),
            "prs_merged",
            "o/r",
            1
        ));
        let closed = r#"{"action":"closed","repository":{"full_name":"o/r"},"pull_request":{"merged":false}}"#;
        let counts = counts(&event("github", "pull_request", closed));
        assert!(!counts.iter().any(|c| c.counter == "prs_merged"));
    }

    #[test]
    fn stripe_payments_sum_amounts_by_currency_and_outcome() {
        let body = r#"{"data":{"object":{"amount":1250,"currency":"eur"}}}"#;
        let counts = counts(&event("stripe", "payment_intent.succeeded", body));
        assert!(has(&counts, "amounts", "eur:succeeded", 1250));
    }

    #[test]
    fn other_providers_count_entities_and_non_json_counts_by_type() {
        let body = r#"{"project":{"path_with_namespace":"g/p"}}"#;
        assert!(has(
            &counts(&event("gitlab", "Push Hook", body)),
            "entities",
            "g/p",
            1
        ));
        let counts = counts(&event("slack", "command", "token=x&command=/hi"));
        assert_eq!(counts.len(), 2);
    }
}
