//! A day's summary as Markdown, for people: totals, event types, then the provider's
//! highlights as tables (top entries first).

use std::collections::BTreeMap;
use std::fmt::Write;

use super::DaySummary;

/// Rows shown per highlight table (the JSON has all of them).
const TOP: usize = 10;

/// The summary as a Markdown document.
pub fn markdown(s: &DaySummary) -> String {
    let mut md = String::new();
    let provider = s.provider.as_deref().unwrap_or("unknown provider");
    let _ = writeln!(
        md,
        "# {} / {} ({provider}) — {}\n",
        s.tenant, s.source, s.date
    );
    let _ = writeln!(
        md,
        "**{} events**, {} duplicates dropped, {} dead-lettered.",
        s.events, s.duplicates, s.dead_letters
    );
    if let (Some(first), Some(last)) = (&s.first_event_at, &s.last_event_at) {
        let _ = writeln!(md, "First event {first}, last {last}.");
    }
    table(
        &mut md,
        "Event types",
        "type",
        &[("events", &s.event_types)],
    );
    let h = |name: &str| s.highlights.get(name);
    let empty = BTreeMap::new();
    let col = |name: &str| h(name).unwrap_or(&empty);
    if [
        "pushes",
        "prs_opened",
        "prs_merged",
        "issues_opened",
        "issues_closed",
    ]
    .iter()
    .any(|name| h(name).is_some())
    {
        table(
            &mut md,
            "Repositories",
            "repository",
            &[
                ("pushes", col("pushes")),
                ("commits", col("commits")),
                ("PRs opened", col("prs_opened")),
                ("PRs merged", col("prs_merged")),
                ("issues opened", col("issues_opened")),
                ("issues closed", col("issues_closed")),
            ],
        );
    }
    if let Some(actors) = h("actors") {
        table(&mut md, "Top actors", "actor", &[("events", actors)]);
    }
    if let Some(amounts) = h("amounts") {
        table(
            &mut md,
            "Payments (minor units)",
            "currency:outcome",
            &[("amount", amounts)],
        );
    }
    if let Some(entities) = h("entities") {
        table(&mut md, "Top entities", "entity", &[("events", entities)]);
    }
    md
}

/// A table of `columns` keyed by the union of their keys, sorted by the first column
/// (descending), at most [`TOP`] rows.
fn table(md: &mut String, title: &str, key: &str, columns: &[(&str, &BTreeMap<String, i64>)]) {
    let mut rows: Vec<&String> = columns.iter().flat_map(|(_, c)| c.keys()).collect();
    rows.sort();
    rows.dedup();
    if rows.is_empty() {
        return;
    }
    let first = columns[0].1;
    rows.sort_by_key(|row| std::cmp::Reverse(first.get(*row).copied().unwrap_or(0)));
    let _ = writeln!(md, "\n## {title}\n");
    let header: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let _ = writeln!(md, "| {key} | {} |", header.join(" | "));
    let _ = writeln!(md, "|---|{}", "---:|".repeat(columns.len()));
    let shown = rows.len().min(TOP);
    for row in &rows[..shown] {
        let cells: Vec<String> = columns
            .iter()
            .map(|(_, c)| c.get(*row).copied().unwrap_or(0).to_string())
            .collect();
        let _ = writeln!(
            md,
            "| {} | {} |",
            row.replace('|', "\\|"),
            cells.join(" | ")
        );
    }
    if rows.len() > shown {
        let _ = writeln!(md, "\n…and {} more.", rows.len() - shown);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_lists_totals_types_and_top_repositories() {
        let mut s = DaySummary {
            date: "2026-11-24".into(),
            tenant: "acme".into(),
            source: "github".into(),
            provider: Some("github".into()),
            events: 3,
            duplicates: 1,
            ..DaySummary::default()
        };
        s.event_types.insert("push".into(), 2);
        s.event_types.insert("issues".into(), 1);
        s.highlights
            .entry("pushes".into())
            .or_default()
            .insert("o/r".into(), 2);
        let md = markdown(&s);
        assert!(md.starts_with("# acme / github (github) — 2026-11-24"));
        assert!(md.contains("**3 events**, 1 duplicates dropped"));
        assert!(md.contains("| push | 2 |"));
        assert!(md.contains("| o/r | 2 | 0 | 0 | 0 | 0 | 0 |"));
    }
}
