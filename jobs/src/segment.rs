//! Warm segments: consecutive stream entries, stored as one zstd-compressed blob.
//!
//! Uncompressed layout (all integers little-endian u32), versioned by a magic prefix:
//! `HLW1`, entry count, then per entry: the stream id, the field count, and each field's name
//! and value — every string as length + bytes. Field values are kept byte for byte, so a
//! replay from the warm tier returns exactly what was appended.

use bytes::Bytes;
use hookline_shared::event::StoredEvent;

/// The format's magic prefix.
const MAGIC: &[u8; 4] = b"HLW1";
/// zstd level: a good ratio at a speed that keeps compaction far cheaper than ingest.
const LEVEL: i32 = 9;

/// Why a segment cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// Not zstd, or truncated.
    #[error("segment does not decompress: {0}")]
    Compression(#[from] std::io::Error),
    /// Decompressed, but not a segment of this format.
    #[error("segment is malformed: {0}")]
    Format(&'static str),
}

/// Encodes and compresses entries.
pub fn encode(entries: &[StoredEvent]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(entries.iter().map(raw_size).sum::<usize>() + 8);
    raw.extend_from_slice(MAGIC);
    put_len(&mut raw, entries.len());
    for entry in entries {
        put(&mut raw, entry.entry_id.as_bytes());
        put_len(&mut raw, entry.fields.len());
        for (name, value) in &entry.fields {
            put(&mut raw, name.as_bytes());
            put(&mut raw, value);
        }
    }
    zstd::bulk::compress(&raw, LEVEL).expect("compressing into memory does not fail")
}

/// The size of `entries` before compression (for the compression ratio).
pub fn raw_size(entry: &StoredEvent) -> usize {
    8 + entry.entry_id.len()
        + entry
            .fields
            .iter()
            .map(|(n, v)| 8 + n.len() + v.len())
            .sum::<usize>()
}

/// Decompresses and decodes a segment.
pub fn decode(compressed: &[u8]) -> Result<Vec<StoredEvent>, SegmentError> {
    let raw = zstd::stream::decode_all(compressed)?;
    let mut input = Reader { raw: &raw, at: 0 };
    if input.take(4)? != MAGIC {
        return Err(SegmentError::Format("unknown magic"));
    }
    let count = input.len()?;
    let mut entries = Vec::with_capacity(count.min(1 << 16));
    for _ in 0..count {
        let entry_id = input.text()?;
        let fields = input.len()?;
        let mut pairs = Vec::with_capacity(fields.min(64));
        for _ in 0..fields {
            let name = input.text()?;
            let value = Bytes::copy_from_slice(input.bytes()?);
            pairs.push((name, value));
        }
        entries.push(StoredEvent {
            entry_id,
            fields: pairs,
        });
    }
    Ok(entries)
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(
        &u32::try_from(len)
            .expect("segment parts are far below 4 GiB")
            .to_le_bytes(),
    );
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    raw: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SegmentError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.raw.len())
            .ok_or(SegmentError::Format("truncated"))?;
        let slice = &self.raw[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn len(&mut self) -> Result<usize, SegmentError> {
        let bytes: [u8; 4] = self
            .take(4)?
            .try_into()
            .map_err(|_| SegmentError::Format("truncated"))?;
        Ok(u32::from_le_bytes(bytes) as usize)
    }

    fn bytes(&mut self) -> Result<&'a [u8], SegmentError> {
        let n = self.len()?;
        self.take(n)
    }

    fn text(&mut self) -> Result<String, SegmentError> {
        String::from_utf8(self.bytes()?.to_vec())
            .map_err(|_| SegmentError::Format("a name is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, payload: &[u8]) -> StoredEvent {
        StoredEvent {
            entry_id: id.into(),
            fields: vec![
                ("v".into(), Bytes::from_static(b"1")),
                ("payload".into(), Bytes::copy_from_slice(payload)),
            ],
        }
    }

    #[test]
    fn segments_round_trip_byte_for_byte() {
        let entries = vec![
            entry("1-0", b"{\"a\":1}\n"),
            entry("1-1", &[0, 255, 10, 13]),
            entry("2-0", b""),
        ];
        assert_eq!(decode(&encode(&entries)).unwrap(), entries);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(b"not zstd").is_err());
        let truncated = zstd::bulk::compress(b"HLW1\x05\x00\x00\x00", 3).unwrap();
        assert!(matches!(decode(&truncated), Err(SegmentError::Format(_))));
    }
}
