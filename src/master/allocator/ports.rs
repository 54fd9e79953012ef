//! Host ports from an agent's range for tasks that ask for any free ports
//! ([`PendingTask::random_ports`](super::PendingTask::random_ports), Marathon's port 0 /
//! `requirePorts: false`).
//!
//! Pure: the agent's free ports and a seed in, the chosen ports out. The choice starts at
//! a seeded offset into the free ports and takes the next ones, wrapping around, so tasks
//! placed in one cycle (and a task placed again after a failed launch) do not all start at
//! the lowest free port, while the choice stays a function of its inputs.

use crate::api::resources::PortRanges;

/// `count` distinct ports of `free`, none of them in `exclude` (the task's own fixed
/// ports), starting at an offset chosen by `seed` among the candidates and wrapping
/// around; `None` when fewer than `count` are left. The first is the task's first random
/// port (`PORT<i>` after its fixed ports).
pub fn choose_ports(
    free: &PortRanges,
    exclude: &PortRanges,
    count: u32,
    seed: u64,
) -> Option<Vec<u16>> {
    let count = usize::try_from(count).ok()?;
    if count == 0 {
        return Some(Vec::new());
    }
    let candidates = if exclude.is_empty() {
        free.clone()
    } else {
        free.difference(exclude)
    };
    let available = candidates.len();
    if available < count {
        return None;
    }
    let start = usize::try_from(seed % u64::try_from(available).ok()?).ok()?;
    Some(
        candidates
            .iter()
            .skip(start)
            .chain(candidates.iter())
            .take(count)
            .collect(),
    )
}

/// How many ports of `free` outside `exclude` there are, up to `enough` (stops counting
/// there): whether a task asking for `enough` random ports fits.
pub fn has_room(free: &PortRanges, exclude: &PortRanges, enough: u32) -> bool {
    if enough == 0 {
        return true;
    }
    let want = usize::try_from(enough).unwrap_or(usize::MAX);
    if exclude.is_empty() {
        free.len() >= want
    } else {
        free.difference(exclude).len() >= want
    }
}

/// A seed for one task's choice: the cycle's seed mixed with the task's id (FNV-1a), so
/// two tasks of one cycle start at different offsets.
pub fn task_seed(cycle_seed: u64, task: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ cycle_seed;
    for byte in task.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resources::PortRange;
    use proptest::prelude::*;

    fn ranges(list: &[(u16, u16)]) -> PortRanges {
        PortRanges::new(list.iter().filter_map(|&(b, e)| PortRange::new(b, e).ok()))
    }

    #[test]
    fn takes_consecutive_free_ports_from_the_seeded_offset_wrapping_around() {
        let free = ranges(&[(31000, 31002), (31005, 31005)]);
        assert_eq!(
            choose_ports(&free, &PortRanges::empty(), 2, 0),
            Some(vec![31000, 31001])
        );
        assert_eq!(
            choose_ports(&free, &PortRanges::empty(), 3, 3),
            Some(vec![31005, 31000, 31001])
        );
        // Excluded (the task's fixed) ports are never chosen.
        assert_eq!(
            choose_ports(&free, &ranges(&[(31000, 31001)]), 2, 0),
            Some(vec![31002, 31005])
        );
    }

    #[test]
    fn too_few_free_ports_is_none_and_zero_is_empty() {
        let free = ranges(&[(31000, 31001)]);
        assert_eq!(choose_ports(&free, &PortRanges::empty(), 3, 7), None);
        assert_eq!(choose_ports(&free, &ranges(&[(31000, 31000)]), 2, 7), None);
        assert_eq!(
            choose_ports(&PortRanges::empty(), &PortRanges::empty(), 0, 1),
            Some(vec![])
        );
        assert!(has_room(&free, &PortRanges::empty(), 2));
        assert!(!has_room(&free, &ranges(&[(31001, 31001)]), 2));
    }

    #[test]
    fn task_seeds_differ_by_task() {
        assert_ne!(task_seed(1, "ns/a-1-0"), task_seed(1, "ns/a-1-1"));
        assert_eq!(task_seed(1, "ns/a-1-0"), task_seed(1, "ns/a-1-0"));
    }

    fn arb_ranges() -> impl Strategy<Value = PortRanges> {
        prop::collection::vec((30990u16..31030, 0u16..8), 0..6).prop_map(|v| {
            PortRanges::new(
                v.into_iter()
                    .filter_map(|(b, len)| PortRange::new(b, b.saturating_add(len)).ok()),
            )
        })
    }

    proptest! {
        /// The choice is `count` distinct free ports outside `exclude`, whenever that many
        /// exist, and the same for the same inputs.
        #[test]
        fn chosen_ports_are_distinct_free_and_not_excluded(
            free in arb_ranges(),
            exclude in arb_ranges(),
            count in 0u32..12,
            seed in any::<u64>(),
        ) {
            let candidates = free.difference(&exclude).len();
            let chosen = choose_ports(&free, &exclude, count, seed);
            prop_assert_eq!(chosen.is_some(), candidates >= count as usize);
            prop_assert_eq!(has_room(&free, &exclude, count), candidates >= count as usize);
            if let Some(ports) = &chosen {
                prop_assert_eq!(ports.len(), count as usize);
                let set: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
                prop_assert_eq!(set.len(), ports.len(), "a port chosen twice");
                for p in ports {
                    prop_assert!(free.contains_port(*p) && !exclude.contains_port(*p));
                }
            }
            prop_assert_eq!(chosen, choose_ports(&free, &exclude, count, seed));
        }

        /// Tasks placed one after another on an agent (each taking its ports out of the
        /// free ones, as the allocator does) never share a port, and all fit while the
        /// range lasts.
        #[test]
        fn successive_choices_never_overlap(
            counts in prop::collection::vec(0u32..5, 1..12),
            seed in any::<u64>(),
        ) {
            let mut free = ranges(&[(31000, 31019)]);
            let mut given = std::collections::BTreeSet::new();
            let mut left = 20usize;
            for (i, count) in counts.iter().enumerate() {
                let chosen = choose_ports(&free, &PortRanges::empty(), *count, task_seed(seed, &i.to_string()));
                prop_assert_eq!(chosen.is_some(), left >= *count as usize);
                if let Some(ports) = chosen {
                    for p in &ports {
                        prop_assert!(given.insert(*p), "port {} given twice", p);
                    }
                    free = free.difference(&ports.iter().copied().collect());
                    left -= ports.len();
                }
            }
        }
    }
}
