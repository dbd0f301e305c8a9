//! CloudWatch Embedded Metric Format: one JSON line on standard output per metric set, which
//! CloudWatch Logs turns into metrics without an API call.

use serde_json::{Map, Value, json};

/// One metric with its dimension values, e.g. `hookline_job_runs_total{job, outcome} = 1`.
#[derive(Debug, Clone)]
pub struct Metric<'a> {
    /// The metric name (the Prometheus name, so dashboards read alike).
    pub name: &'a str,
    /// CloudWatch unit: `Count`, `Seconds`, `None`, …
    pub unit: &'a str,
    /// The value.
    pub value: f64,
    /// Dimension names and values; empty for a metric without dimensions.
    pub dimensions: &'a [(&'a str, &'a str)],
}

/// The EMF document of `metric` in `namespace` at `timestamp_ms`.
pub fn line(namespace: &str, timestamp_ms: u64, metric: &Metric<'_>) -> String {
    let names: Vec<&str> = metric.dimensions.iter().map(|(name, _)| *name).collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [names],
                "Metrics": [{"Name": metric.name, "Unit": metric.unit}],
            }],
        }),
    );
    for (name, value) in metric.dimensions {
        doc.insert((*name).into(), Value::from(*value));
    }
    doc.insert(metric.name.into(), Value::from(metric.value));
    Value::Object(doc).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_declares_its_metric_and_carries_dimension_values() {
        let metric = Metric {
            name: "hookline_job_runs_total",
            unit: "Count",
            value: 1.0,
            dimensions: &[("job", "compact"), ("outcome", "success")],
        };
        let doc: Value =
            serde_json::from_str(&line("hookline", 1_700_000_000_000, &metric)).unwrap();
        let declared = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], "hookline");
        assert_eq!(declared["Dimensions"], json!([["job", "outcome"]]));
        assert_eq!(declared["Metrics"][0]["Name"], "hookline_job_runs_total");
        assert_eq!(doc["job"], "compact");
        assert_eq!(doc["hookline_job_runs_total"], 1.0);
    }

    #[test]
    fn a_metric_without_dimensions_declares_an_empty_set() {
        let metric = Metric {
            name: "hookline_dlq_length",
            unit: "Count",
            value: 3.0,
            dimensions: &[],
        };
        let doc: Value = serde_json::from_str(&line("hookline", 0, &metric)).unwrap();
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
    }
}
