//! The app's instances sorted for one planning step, relative to the version they should
//! run.

use std::collections::BTreeMap;

use super::state::{FleetCounts, VersionCount};
use crate::services::{Instance, InstanceState, Version};

/// The live instances split by version and kill status.
#[derive(Clone, Debug, Default)]
pub(crate) struct Fleet<'a> {
    /// Live, not being killed, running the effective version.
    pub current: Vec<&'a Instance>,
    /// Live, not being killed, running another version.
    pub old: Vec<&'a Instance>,
    /// Being killed, effective version.
    pub killing_current: u32,
    /// Being killed, another version.
    pub killing_old: u32,
}

impl<'a> Fleet<'a> {
    /// Sorts `fleet` against `effective` (`None`: every instance is old).
    pub fn new(fleet: &'a [Instance], effective: Option<Version>) -> Self {
        let mut split = Self::default();
        for instance in fleet.iter().filter(|i| i.state.is_live()) {
            let current = Some(instance.version) == effective;
            match (instance.state == InstanceState::Killing, current) {
                (true, true) => split.killing_current += 1,
                (true, false) => split.killing_old += 1,
                (false, true) => split.current.push(instance),
                (false, false) => split.old.push(instance),
            }
        }
        split
    }

    /// Every live instance, kills in progress included.
    pub fn live(&self) -> u32 {
        count(self.current.len() + self.old.len()) + self.killing_current + self.killing_old
    }

    /// Live instances of other versions, kills in progress included.
    pub fn old_live(&self) -> u32 {
        count(self.old.len()) + self.killing_old
    }

    /// Available instances not being killed, of any version.
    pub fn available(&self) -> u32 {
        self.current_available() + available(&self.old)
    }

    /// Available instances of the effective version not being killed.
    pub fn current_available(&self) -> u32 {
        available(&self.current)
    }
}

pub(crate) fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn available(instances: &[&Instance]) -> u32 {
    count(instances.iter().filter(|i| i.available()).count())
}

/// Instances by state and version, for status.
pub(crate) fn fleet_counts(fleet: &[Instance]) -> FleetCounts {
    let mut counts = FleetCounts::default();
    let mut by_version: BTreeMap<Version, VersionCount> = BTreeMap::new();
    for i in fleet.iter().filter(|i| !i.state.is_terminal()) {
        let running = i.state == InstanceState::Running;
        counts.staged += u32::from(matches!(
            i.state,
            InstanceState::Staging | InstanceState::Starting
        ));
        counts.running += u32::from(running);
        counts.healthy += u32::from(running && i.healthy);
        counts.unhealthy += u32::from(running && !i.healthy);
        counts.available += u32::from(i.available());
        counts.killing += u32::from(i.state == InstanceState::Killing);
        counts.unreachable += u32::from(matches!(
            i.state,
            InstanceState::Unreachable | InstanceState::UnreachableInactive
        ));
        if i.state.is_live() {
            let entry = by_version.entry(i.version).or_insert(VersionCount {
                version: i.version,
                ..VersionCount::default()
            });
            entry.instances += 1;
            entry.available += u32::from(i.available());
        }
    }
    counts.by_version = by_version.into_values().rev().collect();
    counts
}
