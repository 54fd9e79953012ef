//! Compact, `Copy` scalar resource vectors for the allocator's hot loops.
//!
//! [`Resources`] carries port ranges in a `Vec`, so every clone allocates. The
//! allocator does its arithmetic on the four scalar dimensions only, in the same
//! exact units ([`Cpus`] milli-CPUs, [`Mebibytes`] bytes, whole GPUs), and deals
//! with ports separately where they matter (agents, offers and tasks).

use crate::api::Resources;
use crate::api::resources::{Cpus, Mebibytes, PortRanges};

/// Number of scalar dimensions: cpus, mem, disk, gpus.
pub(crate) const DIMENSIONS: usize = 4;

/// Scalar resources in exact units: milli-CPUs, bytes of memory, bytes of disk, GPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Scalars(pub(crate) [u64; DIMENSIONS]);

impl Scalars {
    /// Nothing.
    pub(crate) const ZERO: Scalars = Scalars([0; DIMENSIONS]);
    /// No bound in any dimension.
    pub(crate) const UNBOUNDED: Scalars = Scalars([u64::MAX; DIMENSIONS]);

    /// The scalar part of `resources` (ports dropped).
    pub(crate) fn of(resources: &Resources) -> Scalars {
        Scalars([
            resources.cpus.millis(),
            resources.mem.bytes(),
            resources.disk.bytes(),
            resources.gpus,
        ])
    }

    /// A quota limit: dimensions left at zero are unlimited.
    pub(crate) fn limit_of(resources: &Resources) -> Scalars {
        let mut limit = Scalars::of(resources);
        for value in &mut limit.0 {
            if *value == 0 {
                *value = u64::MAX;
            }
        }
        limit
    }

    /// These scalars with `ports`, as [`Resources`].
    pub(crate) fn with_ports(self, ports: PortRanges) -> Resources {
        let [cpus, mem, disk, gpus] = self.0;
        Resources {
            cpus: Cpus::from_millis(cpus),
            mem: Mebibytes::from_bytes(mem),
            disk: Mebibytes::from_bytes(disk),
            gpus,
            ports,
        }
    }

    /// These scalars as [`Resources`] without ports.
    pub(crate) fn to_resources(self) -> Resources {
        self.with_ports(PortRanges::empty())
    }

    /// Whether every dimension is zero.
    pub(crate) fn is_zero(&self) -> bool {
        self.0 == [0; DIMENSIONS]
    }

    /// Whether `self` is at least `other` in every dimension.
    #[inline]
    pub(crate) fn contains(&self, other: &Scalars) -> bool {
        self.0.iter().zip(&other.0).all(|(have, need)| have >= need)
    }

    /// Whether some dimension is non-zero in both.
    #[inline]
    pub(crate) fn overlaps(&self, other: &Scalars) -> bool {
        self.0.iter().zip(&other.0).any(|(a, b)| *a > 0 && *b > 0)
    }

    /// Per-dimension minimum.
    #[inline]
    pub(crate) fn min_each(&self, other: &Scalars) -> Scalars {
        self.zip_with(other, u64::min)
    }

    /// Per-dimension maximum.
    #[inline]
    pub(crate) fn max_each(&self, other: &Scalars) -> Scalars {
        self.zip_with(other, u64::max)
    }

    /// Per-dimension sum, clamped at `u64::MAX`.
    #[inline]
    pub(crate) fn saturating_add(&self, other: &Scalars) -> Scalars {
        self.zip_with(other, u64::saturating_add)
    }

    /// Per-dimension difference, clamped at zero.
    #[inline]
    pub(crate) fn saturating_sub(&self, other: &Scalars) -> Scalars {
        self.zip_with(other, u64::saturating_sub)
    }

    /// DRF dominant share of `self` within `total`: the largest `used / total` over
    /// the dimensions whose total is non-zero (zero when none is).
    #[inline]
    pub(crate) fn dominant_share(&self, total: &Scalars) -> f64 {
        self.0
            .iter()
            .zip(&total.0)
            .filter(|&(_, total)| *total != 0)
            .map(|(used, total)| *used as f64 / *total as f64)
            .fold(0.0, f64::max)
    }

    #[inline]
    fn zip_with(&self, other: &Scalars, op: impl Fn(u64, u64) -> u64) -> Scalars {
        let [a0, a1, a2, a3] = self.0;
        let [b0, b1, b2, b3] = other.0;
        Scalars([op(a0, b0), op(a1, b1), op(a2, b2), op(a3, b3)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_zero_means_unlimited() {
        let limit = Scalars::limit_of(&Resources {
            cpus: Cpus::from_millis(2000),
            ..Resources::default()
        });
        assert_eq!(limit, Scalars([2000, u64::MAX, u64::MAX, u64::MAX]));
    }

    #[test]
    fn arithmetic_and_share() {
        let a = Scalars([1000, 4, 0, 1]);
        let b = Scalars([500, 8, 3, 0]);
        assert_eq!(a.min_each(&b), Scalars([500, 4, 0, 0]));
        assert_eq!(a.max_each(&b), Scalars([1000, 8, 3, 1]));
        assert_eq!(a.saturating_sub(&b), Scalars([500, 0, 0, 1]));
        assert_eq!(a.saturating_add(&b), Scalars([1500, 12, 3, 1]));
        assert!(a.overlaps(&b) && !Scalars([0, 0, 1, 0]).overlaps(&a));
        assert!(a.contains(&Scalars([1000, 4, 0, 0])) && !a.contains(&b));
        assert_eq!(
            Scalars([250, 8, 0, 0]).dominant_share(&Scalars([1000, 8, 0, 0])),
            1.0
        );
        assert_eq!(
            Scalars([250, 0, 9, 0]).dominant_share(&Scalars([1000, 8, 0, 0])),
            0.25
        );
        let r = Scalars([1500, 1 << 20, 0, 2]).to_resources();
        assert_eq!(Scalars::of(&r), Scalars([1500, 1 << 20, 0, 2]));
    }
}
