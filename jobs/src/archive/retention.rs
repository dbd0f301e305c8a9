//! Retention per source (`sources.*.retention`): each archive run deletes a source's cold
//! objects, with their manifests, once their UTC hour ended longer ago than the source's
//! retention. The job does it rather than an S3 lifecycle rule, so it works alike on every
//! store (`file://`, S3, S3-compatible servers) and follows the config without a redeploy.
//! Under S3 versioning or Object Lock a delete leaves older versions: the bucket's own rules
//! decide about those.

use hookline_shared::clock;
use hookline_shared::config::Config;
use hookline_shared::objects::{ArchiveStore, StoreError};

/// Deletes every object of a source with a retention whose hour ended more than that
/// retention before `now_ms`; returns how many data objects went (manifests not counted).
pub async fn expire(
    config: &Config,
    store: &dyn ArchiveStore,
    now_ms: u64,
) -> Result<u64, StoreError> {
    let mut expired = 0;
    for (name, source) in &config.sources {
        let Some(retention) = source.retention else {
            continue;
        };
        let cutoff = now_ms.saturating_sub(retention.get().as_millis() as u64);
        let prefix = format!("tenant={}/source={name}/", source.tenant);
        for key in store.list(&prefix).await? {
            if hour_end_ms(&key).is_some_and(|end| end <= cutoff) {
                store.delete(&key).await?;
                if !key.ends_with(".manifest.json") {
                    expired += 1;
                }
            }
        }
    }
    if expired > 0 {
        tracing::info!(
            objects = expired,
            "deleted cold objects past their source's retention"
        );
    }
    Ok(expired)
}

/// When the hour of an object key (`…/date=YYYY-MM-DD/hour=HH/…`) ends, ms since the epoch.
fn hour_end_ms(key: &str) -> Option<u64> {
    let date = key.split("/date=").nth(1)?.get(..10)?;
    let hour: u64 = key.split("/hour=").nth(1)?.get(..2)?.parse().ok()?;
    let day = u64::try_from(clock::parse_date(date).ok()?).ok()?;
    Some(day * 86_400_000 + (hour + 1) * 3_600_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_key_ends_with_its_hour() {
        let key = "tenant=default/source=github/date=2026-11-24/hour=18/0-1-2.jsonl.zst";
        assert_eq!(hour_end_ms(key), Some(1_795_543_200_000 + 3_600_000));
        assert_eq!(
            hour_end_ms(&format!("{key}.manifest.json")),
            hour_end_ms(key)
        );
        assert_eq!(hour_end_ms("tenant=default/source=github/README"), None);
        assert_eq!(hour_end_ms("x/date=2026-13-01/hour=00/y"), None);
    }
}
