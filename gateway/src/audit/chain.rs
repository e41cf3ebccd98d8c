//! The audit chain's arithmetic: each entry's hash is SHA-256 over the
//! previous entry's hash and the entry's fields, so changing, removing or
//! inserting any entry breaks every hash after it.

use sha2::{Digest, Sha256};

/// One audited call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its place in the chain (1, 2, …).
    pub seq: i64,
    /// When (µs since the epoch).
    pub at: i64,
    /// The calling agency (empty if it could not be authenticated).
    pub agency_id: String,
    /// The method, e.g. `GetStatus`.
    pub method: String,
    /// The case it concerned, if any.
    pub case_id: String,
    /// The gRPC status code it ended with.
    pub code: i32,
    /// The request id (`x-request-id`, or one the gateway made).
    pub request_id: String,
}

/// The hash of `entry` following `previous` (hex).
pub fn hash(previous: &str, entry: &Entry) -> String {
    let mut h = Sha256::new();
    h.update(previous.as_bytes());
    // Length-prefixed fields: no two different entries serialise alike.
    for field in [
        entry.seq.to_string().as_str(),
        entry.at.to_string().as_str(),
        &entry.agency_id,
        &entry.method,
        &entry.case_id,
        entry.code.to_string().as_str(),
        &entry.request_id,
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    hex::encode(h.finalize())
}

/// What verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every entry's hash holds; how many were checked.
    Intact(u64),
    /// The first entry whose hash does not hold (or whose seq breaks the sequence).
    BrokenAt(i64),
}

/// Verifies `entries` (in seq order) from the anchor (`anchor_seq`, `anchor_hash`).
pub fn verify<'a>(
    anchor_seq: i64,
    anchor_hash: &str,
    entries: impl IntoIterator<Item = (&'a Entry, &'a str)>,
) -> Verdict {
    let (mut seq, mut previous) = (anchor_seq, anchor_hash.to_string());
    let mut checked = 0;
    for (entry, stored) in entries {
        if entry.seq != seq + 1 || hash(&previous, entry) != stored {
            return Verdict::BrokenAt(if entry.seq != seq + 1 { seq + 1 } else { entry.seq });
        }
        seq = entry.seq;
        previous = stored.to_string();
        checked += 1;
    }
    Verdict::Intact(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<(Entry, String)> {
        let mut previous = String::new();
        (1..=n)
            .map(|seq| {
                let e = Entry {
                    seq,
                    at: 1_700_000_000_000_000 + seq,
                    agency_id: "court-620802".into(),
                    method: "GetStatus".into(),
                    case_id: format!("c{seq}"),
                    code: 0,
                    request_id: format!("r{seq}"),
                };
                previous = hash(&previous, &e);
                (e, previous.clone())
            })
            .collect()
    }

    fn check(entries: &[(Entry, String)]) -> Verdict {
        verify(0, "", entries.iter().map(|(e, h)| (e, h.as_str())))
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert_eq!(check(&chain(5)), Verdict::Intact(5));
    }

    #[test]
    fn a_changed_removed_or_reordered_entry_is_named() {
        let mut changed = chain(5);
        changed[2].0.method = "RevokeReferral".into();
        assert_eq!(check(&changed), Verdict::BrokenAt(3));
        let mut removed = chain(5);
        removed.remove(1);
        assert_eq!(check(&removed), Verdict::BrokenAt(2));
        let mut rehashed = chain(5);
        rehashed[3].0.code = 5;
        rehashed[3].1 = hash(&rehashed[2].1, &rehashed[3].0); // recomputed, but the next one no longer follows
        assert_eq!(check(&rehashed), Verdict::BrokenAt(5));
    }

    #[test]
    fn verification_starts_at_the_retention_anchor() {
        let all = chain(6);
        let kept = &all[3..];
        assert_eq!(verify(3, &all[2].1, kept.iter().map(|(e, h)| (e, h.as_str()))), Verdict::Intact(3));
        assert_eq!(verify(0, "", kept.iter().map(|(e, h)| (e, h.as_str()))), Verdict::BrokenAt(1));
    }
}
