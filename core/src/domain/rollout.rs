//! A staged rollout's two rules: which chats run the candidate, and when
//! the candidate has failed often enough to be given up.

use sha2::{Digest, Sha256};

/// Shares of a chat are counted in hundredths of a percent.
const BUCKETS: u64 = 10_000;

/// Whether chat `chat_id` runs the candidate of rollout `rollout_id` at
/// `percent`. Stateless and the same on every node: the chat's bucket is
/// the first eight bytes of SHA-256 of `"<rollout>:<chat>"`, modulo
/// 10,000, and the candidate takes the buckets below `percent × 100`. A
/// chat keeps its pipeline for the whole rollout (its prefill, conversion
/// and summary agree), and a new rollout draws its chats afresh.
pub fn runs_candidate(rollout_id: &str, chat_id: &str, percent: i32) -> bool {
    bucket(rollout_id, chat_id) < u64::try_from(percent).unwrap_or(0) * (BUCKETS / 100)
}

fn bucket(rollout_id: &str, chat_id: &str) -> u64 {
    let mut hash = Sha256::new();
    hash.update(rollout_id.as_bytes());
    hash.update(b":");
    hash.update(chat_id.as_bytes());
    let digest = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % BUCKETS
}

/// Why the candidate must be given up, or `None` while it may go on:
/// `recent` is its last runs, oldest first (`1` a run with a fault), and
/// the verdict waits for `min_calls` of them.
pub fn verdict(recent: &str, min_calls: i32, max_fault_rate: f64) -> Option<String> {
    let window = usize::try_from(min_calls).unwrap_or(1).max(1);
    if recent.len() < window {
        return None;
    }
    let faults = recent.bytes().filter(|b| *b == b'1').count();
    let rate = faults as f64 / window as f64;
    (rate > max_fault_rate).then(|| {
        format!(
            "{faults} of its last {window} runs faulted ({:.0}%, over the {:.0}% allowed)",
            rate * 100.0,
            max_fault_rate * 100.0
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_keeps_its_side_and_the_share_is_near_the_percent() {
        let ids: Vec<String> = (0..20_000).map(|i| format!("chat-{i}")).collect();
        let on = ids.iter().filter(|c| runs_candidate("r1", c, 10)).count();
        // 2,000 expected; the standard deviation is about 42.
        assert!((1_800..=2_200).contains(&on), "{on}");
        assert!(
            ids.iter()
                .all(|c| runs_candidate("r1", c, 10) == runs_candidate("r1", c, 10))
        );
        assert!(!ids.iter().any(|c| runs_candidate("r1", c, 0)));
        assert!(ids.iter().all(|c| runs_candidate("r1", c, 100)));
    }

    #[test]
    fn the_verdict_waits_for_min_calls_then_compares_the_rate() {
        assert_eq!(verdict("111", 4, 0.1), None);
        assert_eq!(verdict("0001", 4, 0.25), None);
        let reason = verdict("0011", 4, 0.25).unwrap();
        assert!(reason.starts_with("2 of its last 4 runs faulted (50%"), "{reason}");
    }
}
