//! Run identity: each run's Task name is a pure function of the job and what the run
//! serves, so a run is created at most once per slot (or per set of parent runs, or per
//! manual token) by construction — a second create of the same name fails with
//! AlreadyExists, across restarts and leader failovers.
//!
//! A name is `<job part>-<suffix>`, a DNS-1123 label of at most 63 characters (so it is also
//! a valid subdomain, Pod name and label value). The suffix never contains `-`, so the job
//! part is everything before the last `-` and two jobs' names cannot meet:
//!
//! | run | suffix | example |
//! |---|---|---|
//! | a slot (Unix seconds; `f` + decimal fraction when sub-second; `b` + seconds before 1970) | `1718000000` | `nightly-1718000000` |
//! | a parent trigger (FNV-1a-64 of the sorted parent → run pairs, base32) | `d` + 13 chars | `report-d5k2m0q8r1s3t` |
//! | a manual run ("run now", hash of the token) | `m` + 13 chars | `nightly-m0a1b2c3d4e5f` |
//! | a manual "mark succeeded" (not a Task; what dependents see) | `s` + 13 chars | |
//! | retry `n` of any of these | the above + `r<n>` | `nightly-1718000000r2` |
//!
//! A job name that is not a DNS label or is too long for its suffix becomes a truncated,
//! cleaned prefix plus an 8-character hash of the full name (`very-long-na-3fk2a9qz`).

use std::hash::Hasher;

use jiff::Timestamp;

/// Kubernetes' limit for a DNS-1123 label.
pub const MAX_NAME_LEN: usize = 63;

/// The Task name of attempt `attempt` (0 = the first) of the run of `job` serving `slot`.
pub fn slot_run_name(job: &str, slot: Timestamp, attempt: u32) -> String {
    run_name(job, &with_attempt(slot_suffix(slot), attempt))
}

/// The Task name of a parent-triggered run: `parent_runs` are (parent job, parent run name)
/// pairs, in any order.
pub fn dependency_run_name<'a>(
    job: &str,
    parent_runs: impl IntoIterator<Item = (&'a str, &'a str)>,
    attempt: u32,
) -> String {
    let mut pairs: Vec<(&str, &str)> = parent_runs.into_iter().collect();
    pairs.sort_unstable();
    let hash = fnv(pairs
        .iter()
        .flat_map(|(parent, run)| [parent.as_bytes(), b"\0", run.as_bytes(), b"\0"]));
    run_name(
        job,
        &with_attempt(format!("d{}", base32(hash, 13)), attempt),
    )
}

/// The Task name of a manual run requested with `token`.
pub fn manual_run_name(job: &str, token: &str, attempt: u32) -> String {
    run_name(
        job,
        &with_attempt(format!("m{}", base32(fnv([token.as_bytes()]), 13)), attempt),
    )
}

/// The name recorded for a manual "mark succeeded" with `token` (no Task has it).
pub fn marked_success_name(job: &str, token: &str) -> String {
    run_name(job, &format!("s{}", base32(fnv([token.as_bytes()]), 13)))
}

fn with_attempt(suffix: String, attempt: u32) -> String {
    if attempt == 0 {
        suffix
    } else {
        format!("{suffix}r{attempt}")
    }
}

fn slot_suffix(slot: Timestamp) -> String {
    let (secs, nanos) = (slot.as_second(), slot.subsec_nanosecond());
    let whole = if secs < 0 || (secs == 0 && nanos < 0) {
        format!("b{}", secs.unsigned_abs())
    } else {
        secs.to_string()
    };
    if nanos == 0 {
        return whole;
    }
    let fraction = format!("{:09}", nanos.unsigned_abs());
    format!("{whole}f{}", fraction.trim_end_matches('0'))
}

/// `<job part>-<suffix>` within [`MAX_NAME_LEN`].
fn run_name(job: &str, suffix: &str) -> String {
    let budget = MAX_NAME_LEN.saturating_sub(suffix.len() + 1);
    if is_dns_label(job) && job.len() <= budget {
        return format!("{job}-{suffix}");
    }
    let hash = base32(fnv([job.as_bytes()]), 8);
    let keep = budget.saturating_sub(hash.len() + 1);
    let cleaned: String = job
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(keep)
        .collect();
    let prefix = cleaned.trim_matches('-');
    if prefix.is_empty() {
        format!("job{hash}-{suffix}")
    } else {
        format!("{prefix}-{hash}-{suffix}")
    }
}

/// Whether `name` is a DNS-1123 label: 1-63 of `[a-z0-9-]`, alphanumeric at both ends.
pub fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME_LEN
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
}

/// FNV-1a, 64 bits: specified, stable across releases and platforms.
fn fnv<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    let mut hasher = fnv::FnvHasher::default();
    for part in parts {
        hasher.write(part);
    }
    hasher.finish()
}

/// The low `5 × len` bits of `value`, base32 with the alphabet `0-9a-v`.
fn base32(value: u64, len: usize) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    (0..len)
        .rev()
        .map(|i| {
            let digit = (value.checked_shr(5 * i as u32).unwrap_or(0) & 31) as usize;
            char::from(ALPHABET.get(digit).copied().unwrap_or(b'0'))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::test_support::ts;
    use proptest::prelude::*;

    #[test]
    fn slot_names_are_readable_and_stable() {
        let cases = [
            ("nightly", "2024-06-10T06:13:20Z", 0, "nightly-1718000000"),
            ("nightly", "2024-06-10T06:13:20Z", 2, "nightly-1718000000r2"),
            ("tick", "2024-06-10T06:13:20.25Z", 0, "tick-1718000000f25"),
            ("old", "1969-12-31T23:59:00Z", 0, "old-b60"),
        ];
        for (job, slot, attempt, expected) in cases {
            assert_eq!(slot_run_name(job, ts(slot), attempt), expected);
        }
        // Pinned (computed independently): persisted identities that must never change.
        assert_eq!(
            dependency_run_name("d", [("b", "b-1"), ("c", "c-1")], 0),
            "d-d24mi553shk4ih"
        );
        assert_eq!(
            manual_run_name("nightly", "fix-1", 0),
            "nightly-mbno56fuqjj37q"
        );
    }

    #[test]
    fn dependency_names_ignore_order_and_depend_on_every_pair() {
        let ab = dependency_run_name("d", [("b", "b-1"), ("c", "c-7")], 0);
        assert_eq!(
            ab,
            dependency_run_name("d", [("c", "c-7"), ("b", "b-1")], 0)
        );
        assert_ne!(
            ab,
            dependency_run_name("d", [("b", "b-1"), ("c", "c-8")], 0)
        );
        assert_ne!(
            ab,
            dependency_run_name("d", [("b", "b-1c"), ("", "c-7")], 0)
        );
    }

    #[test]
    fn long_and_odd_job_names_are_hash_truncated() {
        let long = "a".repeat(80);
        let name = slot_run_name(&long, ts("2024-06-10T06:13:20Z"), 7);
        assert!(is_dns_label(&name), "{name}");
        assert_eq!(name.len(), MAX_NAME_LEN);
        let dotted = slot_run_name("team.etl.Nightly", ts("2024-06-10T06:13:20Z"), 0);
        assert!(
            is_dns_label(&dotted) && dotted.starts_with("team-etl-nightly-"),
            "{dotted}"
        );
        assert_ne!(
            dotted,
            slot_run_name("team-etl-nightly", ts("2024-06-10T06:13:20Z"), 0)
        );
        assert!(is_dns_label(&slot_run_name(
            "...",
            ts("2024-06-10T06:13:20Z"),
            0
        )));
    }

    proptest! {
        #[test]
        fn every_name_is_a_dns_label(job in "[a-z0-9.-]{1,253}", secs in -10_000_000_000i64..253_402_300_799, nanos in 0i32..1_000_000_000, attempt in 0u32..u32::MAX, token in ".*") {
            let slot = Timestamp::new(secs, if secs < 0 { -nanos } else { nanos }).unwrap_or(Timestamp::UNIX_EPOCH);
            for name in [
                slot_run_name(&job, slot, attempt),
                dependency_run_name(&job, [("p", token.as_str())], attempt),
                manual_run_name(&job, &token, attempt),
                marked_success_name(&job, &token),
            ] {
                prop_assert!(is_dns_label(&name), "{name}");
            }
        }

        #[test]
        fn distinct_slots_and_attempts_get_distinct_names(a in 0i64..4_000_000_000, b in 0i64..4_000_000_000, fa in 0i32..3, fb in 0i32..3, ra in 0u32..3, rb in 0u32..3) {
            let slot = |s: i64, f: i32| Timestamp::new(s, f * 250_000_000).unwrap();
            prop_assume!((a, fa, ra) != (b, fb, rb));
            prop_assert_ne!(slot_run_name("job", slot(a, fa), ra), slot_run_name("job", slot(b, fb), rb));
        }
    }
}
