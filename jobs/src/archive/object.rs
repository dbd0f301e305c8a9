//! Cold objects: the entries of one tenant, source and UTC hour from one partition, as
//! `.jsonl.zst` — one JSON object per line with the schema-1 fields (strings), the stream id,
//! and the body as `payload` (the body's own JSON text, byte for byte, when it is JSON on one
//! line) or else `payload_b64` — plus a manifest with the count, id range and SHA-256 of the
//! uncompressed content.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use hookline_shared::event::StoredEvent;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// zstd level for cold objects.
const LEVEL: i32 = 9;

/// What the `.manifest.json` beside an object records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Entries in the object.
    pub count: u64,
    /// The first entry's stream id.
    pub first_id: String,
    /// The last entry's stream id.
    pub last_id: String,
    /// Hex SHA-256 of the uncompressed JSON lines.
    pub sha256: String,
    /// Size of the compressed object.
    pub bytes: u64,
}

/// An object ready to store.
#[derive(Debug, Clone)]
pub struct ColdObject {
    /// `tenant=…/source=…/date=…/hour=…/{partition}-{first}-{last}.jsonl.zst`.
    pub key: String,
    /// The zstd-compressed lines.
    pub body: Vec<u8>,
    /// Its manifest.
    pub manifest: Manifest,
}

impl ColdObject {
    /// The manifest's key.
    pub fn manifest_key(&self) -> String {
        format!("{}.manifest.json", self.key)
    }
}

/// Groups `entries` (consecutive, of one partition) by tenant, source and UTC hour.
pub fn build(partition: u16, entries: &[StoredEvent]) -> Vec<ColdObject> {
    let mut groups: BTreeMap<(String, String, String, String), Vec<&StoredEvent>> = BTreeMap::new();
    for entry in entries {
        let received = entry.received_at_ms();
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(received);
        let stamp = humantime::format_rfc3339_seconds(at).to_string(); // 2026-11-24T18:00:00Z
        let key = (
            entry.text("tenant").to_owned(),
            entry.text("source").to_owned(),
            stamp[..10].to_owned(),
            stamp[11..13].to_owned(),
        );
        groups.entry(key).or_default().push(entry);
    }
    groups
        .into_iter()
        .map(|((tenant, source, date, hour), entries)| {
            let mut text = String::new();
            for entry in &entries {
                text.push_str(&line(entry));
                text.push('\n');
            }
            let (first, last) = (&entries[0].entry_id, &entries[entries.len() - 1].entry_id);
            let body = zstd::bulk::compress(text.as_bytes(), LEVEL).expect("compressing into memory does not fail");
            let manifest = Manifest {
                count: entries.len() as u64,
                first_id: first.clone(),
                last_id: last.clone(),
                sha256: hex::encode(Sha256::digest(text.as_bytes())),
                bytes: body.len() as u64,
            };
            let key = format!("tenant={tenant}/source={source}/date={date}/hour={hour}/{partition}-{first}-{last}.jsonl.zst");
            ColdObject { key, body, manifest }
        })
        .collect()
}

/// One entry as a JSON line (without the newline).
fn line(entry: &StoredEvent) -> String {
    let mut out = String::from("{\"stream_id\":");
    out.push_str(&json_string(&entry.entry_id));
    for (name, value) in &entry.fields {
        out.push(',');
        if name == "payload" {
            // Inline only text that reads back as the very same bytes: JSON on one line,
            // without surrounding whitespace.
            let inline = std::str::from_utf8(value).ok().filter(|text| {
                text.trim() == *text
                    && !text.contains(['\n', '\r'])
                    && serde_json::from_str::<&RawValue>(text).is_ok()
            });
            match inline {
                Some(text) => {
                    out.push_str("\"payload\":");
                    out.push_str(text);
                }
                None => {
                    out.push_str("\"payload_b64\":");
                    out.push_str(&json_string(&B64.encode(value)));
                }
            }
        } else {
            out.push_str(&json_string(name));
            out.push(':');
            out.push_str(&json_string(&String::from_utf8_lossy(value)));
        }
    }
    out.push('}');
    out
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialize")
}

/// Why an object cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// Not zstd, or truncated.
    #[error("object does not decompress: {0}")]
    Compression(#[from] std::io::Error),
    /// A line is not what [`build`] writes.
    #[error("line {0} is malformed: {1}")]
    Line(usize, String),
}

/// Reads an object back into entries, bodies byte for byte.
pub fn read(body: &[u8]) -> Result<Vec<StoredEvent>, ObjectError> {
    let text = zstd::stream::decode_all(body)?;
    let text = String::from_utf8(text).map_err(|_| ObjectError::Line(0, "not UTF-8".into()))?;
    text.lines()
        .enumerate()
        .map(|(n, line)| parse_line(line).map_err(|why| ObjectError::Line(n + 1, why)))
        .collect()
}

fn parse_line(line: &str) -> Result<StoredEvent, String> {
    let raw: Vec<(String, &RawValue)> = serde_json::from_str::<HashMap<String, &RawValue>>(line)
        .map_err(|e| e.to_string())?
        .into_iter()
        .collect();
    let text = |v: &RawValue| serde_json::from_str::<String>(v.get()).map_err(|e| e.to_string());
    let mut entry_id = String::new();
    let mut fields = Vec::with_capacity(raw.len());
    for (name, value) in raw {
        match name.as_str() {
            "stream_id" => entry_id = text(value)?,
            "payload" => fields.push((
                "payload".to_owned(),
                Bytes::copy_from_slice(value.get().as_bytes()),
            )),
            "payload_b64" => {
                let bytes = B64
                    .decode(text(value)?)
                    .map_err(|_| "payload_b64 is not base64".to_owned())?;
                fields.push(("payload".to_owned(), Bytes::from(bytes)));
            }
            _ => fields.push((name, Bytes::from(text(value)?))),
        }
    }
    Ok(StoredEvent { entry_id, fields })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, received_at: &str, payload: &[u8]) -> StoredEvent {
        StoredEvent {
            entry_id: id.into(),
            fields: vec![
                ("tenant".into(), Bytes::from_static(b"acme")),
                ("source".into(), Bytes::from_static(b"github")),
                (
                    "received_at".into(),
                    Bytes::copy_from_slice(received_at.as_bytes()),
                ),
                ("payload".into(), Bytes::copy_from_slice(payload)),
            ],
        }
    }

    fn sorted(mut e: StoredEvent) -> StoredEvent {
        e.fields.sort();
        e
    }

    #[test]
    fn objects_split_by_hour_and_read_back_byte_for_byte() {
        // 2026-11-25T18:59:59.999Z and 19:00:00Z fall in different hours.
        let entries = vec![
            entry("1-0", "1795633199999", br#"{"a": [1, 2]}"#),
            entry("1-1", "1795633199999", b"not json \xff"),
            entry("2-0", "1795633200000", b"{\n  \"pretty\": true\n}"),
            entry("2-1", "1795633200000", b" {\"padded\":1} "),
        ];
        let objects = build(3, &entries);
        let keys: Vec<&str> = objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "tenant=acme/source=github/date=2026-11-25/hour=18/3-1-0-1-1.jsonl.zst",
                "tenant=acme/source=github/date=2026-11-25/hour=19/3-2-0-2-1.jsonl.zst",
            ]
        );
        let back: Vec<StoredEvent> = objects
            .iter()
            .flat_map(|o| read(&o.body).unwrap())
            .map(sorted)
            .collect();
        let expected: Vec<StoredEvent> = entries.into_iter().map(sorted).collect();
        assert_eq!(back, expected);
        let text = zstd::stream::decode_all(&objects[0].body[..]).unwrap();
        assert!(String::from_utf8(text).unwrap().starts_with(r#"{"stream_id":"1-0","tenant":"acme","source":"github","received_at":"1795633199999","payload":{"a": [1, 2]}}"#));
        assert_eq!(objects[0].manifest.count, 2);
    }
}
