//! Mesos-style resources (scalars and port ranges) with exact arithmetic.
//!
//! Mesos describes what a task needs and what an agent offers as a bag of
//! named resources: scalar `cpus`, `mem`, `disk` and `gpus`, plus the range
//! resource `ports`. [`Resources`] models exactly that bag, with:
//!
//! * exact fixed-point storage — CPUs as milli-CPUs ([`Cpus`]) and memory and
//!   disk as bytes ([`Mebibytes`]) — so sums and differences never drift the
//!   way floating point would (`0.1 + 0.2 == 0.3` holds here);
//! * a wire format that follows Mesos' units (CPUs and MiB as JSON numbers);
//! * conversion to and from Kubernetes [`Quantity`] maps, backed by an exact
//!   parser for every quantity form the Kubernetes API server accepts
//!   ([`parse_quantity`]).
//!
//! The module's parts: [`scalar`] (one exact fixed-point type for CPUs and bytes),
//! [`ports`] (port range sets), [`quantity`] (Kubernetes quantity strings, exactly),
//! [`shortfall`] (why a request does not fit) and the bag itself, here.

use std::collections::BTreeMap;
use std::fmt;
use std::iter::Sum;
use std::ops::Add;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};

mod ports;
mod quantity;
mod scalar;
mod shortfall;

pub use ports::{PortRange, PortRangeError, PortRanges};
pub use quantity::{
    ParsedQuantity, QuantityError, bytes_from_quantity, cpu_millis_from_quantity, parse_quantity,
    value_from_quantity,
};
pub use scalar::{Byte, Cpus, Mebibytes, MilliCpu, Scalar, Unit};
pub use shortfall::{DimensionShortfall, Shortfall};

use quantity::whole_from_quantity;

/// Kubernetes resource name for CPU.
pub const CPU_RESOURCE: &str = "cpu";
/// Kubernetes resource name for memory.
pub const MEMORY_RESOURCE: &str = "memory";
/// Kubernetes resource name for local ephemeral storage (Mesos `disk`).
pub const EPHEMERAL_STORAGE_RESOURCE: &str = "ephemeral-storage";
/// Kubernetes extended resource name for NVIDIA GPUs (Mesos `gpus`).
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// Builds a schema from a JSON object literal without panicking.
fn schema_from_json(value: serde_json::Value) -> Schema {
    match value {
        serde_json::Value::Object(map) => Schema::from(map),
        _ => Schema::from(true),
    }
}

fn is_zero_u64(value: &u64) -> bool {
    *value == 0
}

/// A bag of Mesos resources: what a task needs or what an agent offers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// CPUs, as a decimal number with a precision of 0.001 CPU (e.g. 0.5 or 2). Finer values are rounded up.
    #[serde(default, skip_serializing_if = "Cpus::is_zero")]
    pub cpus: Cpus,
    /// Memory in MiB (Mesos units; e.g. 256 or 0.5).
    #[serde(default, skip_serializing_if = "Mebibytes::is_zero")]
    pub mem: Mebibytes,
    /// Local disk in MiB (Mesos units); maps to the Kubernetes resource ephemeral-storage.
    #[serde(default, skip_serializing_if = "Mebibytes::is_zero")]
    pub disk: Mebibytes,
    /// Number of whole GPUs; maps to the Kubernetes extended resource nvidia.com/gpu.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    #[schemars(range(max = 1_000_000_000))]
    pub gpus: u64,
    /// Host ports, as inclusive ranges (e.g. [{"begin": 31000, "end": 31005}]).
    #[serde(default, skip_serializing_if = "PortRanges::is_empty")]
    pub ports: PortRanges,
}

impl Resources {
    /// The most CPUs one resource bag may hold, as the CRD schemas bound it: 10^9 CPUs.
    /// Every value up to it is exact (milli-CPUs) on the wire and in the type, and 18
    /// million such bags still add up without overflow.
    pub const MAX_CPUS: Cpus = Cpus::from_millis(1_000_000_000_000);
    /// The most memory or disk one resource bag may hold: 2^36 MiB (64 PiB), so that any
    /// 255 bags add up exactly in bytes.
    pub const MAX_BYTES: Mebibytes = Mebibytes::from_bytes(1 << 56);
    /// The most GPUs one resource bag may hold: 10^9.
    pub const MAX_GPUS: u64 = 1_000_000_000;

    /// Sum with every scalar saturating at its documented maximum ([`Self::MAX_CPUS`],
    /// [`Self::MAX_BYTES`], [`Self::MAX_GPUS`]); ports combine by union. For tallies (used,
    /// allocated, offered): a sum that no longer fits counts as "everything", never as
    /// less than it is (so nothing is overcommitted), and stays a value the schema (and
    /// so a status write) accepts.
    pub fn saturating_add(&self, other: &Resources) -> Resources {
        let sat = |a: u64, b: u64, max: u64| a.saturating_add(b).min(max.max(a).max(b));
        Resources {
            cpus: Cpus::from_millis(sat(self.cpus.0, other.cpus.0, Self::MAX_CPUS.0)),
            mem: Mebibytes::from_bytes(sat(self.mem.0, other.mem.0, Self::MAX_BYTES.0)),
            disk: Mebibytes::from_bytes(sat(self.disk.0, other.disk.0, Self::MAX_BYTES.0)),
            gpus: sat(self.gpus, other.gpus, Self::MAX_GPUS),
            ports: self.ports.union(&other.ports),
        }
    }

    /// Whether every dimension is zero and there are no ports.
    pub fn is_empty(&self) -> bool {
        self.cpus.is_zero()
            && self.mem.is_zero()
            && self.disk.is_zero()
            && self.gpus == 0
            && self.ports.is_empty()
    }

    /// Exact sum; `None` if a scalar overflows `u64`.
    ///
    /// Ports combine by set union, as in Mesos, so `(a + b) - b == a` holds
    /// whenever `a` and `b` have disjoint ports.
    pub fn checked_add(&self, other: &Resources) -> Option<Resources> {
        Some(Resources {
            cpus: self.cpus.checked_add(other.cpus)?,
            mem: self.mem.checked_add(other.mem)?,
            disk: self.disk.checked_add(other.disk)?,
            gpus: self.gpus.checked_add(other.gpus)?,
            ports: self.ports.union(&other.ports),
        })
    }

    /// Exact difference; `None` unless `self.contains(other)`, i.e. if any
    /// dimension would go negative or a port of `other` is missing.
    pub fn checked_sub(&self, other: &Resources) -> Option<Resources> {
        if !self.ports.contains(&other.ports) {
            return None;
        }
        Some(Resources {
            cpus: self.cpus.checked_sub(other.cpus)?,
            mem: self.mem.checked_sub(other.mem)?,
            disk: self.disk.checked_sub(other.disk)?,
            gpus: self.gpus.checked_sub(other.gpus)?,
            ports: self.ports.difference(&other.ports),
        })
    }

    /// Difference with every scalar clamped at zero and ports removed where
    /// present.
    pub fn saturating_sub(&self, other: &Resources) -> Resources {
        Resources {
            cpus: self.cpus.saturating_sub(other.cpus),
            mem: self.mem.saturating_sub(other.mem),
            disk: self.disk.saturating_sub(other.disk),
            gpus: self.gpus.saturating_sub(other.gpus),
            ports: self.ports.difference(&other.ports),
        }
    }

    /// Whether `self` is at least `other` in every dimension and holds all of
    /// its ports.
    pub fn contains(&self, other: &Resources) -> bool {
        self.cpus >= other.cpus
            && self.mem >= other.mem
            && self.disk >= other.disk
            && self.gpus >= other.gpus
            && self.ports.contains(&other.ports)
    }

    /// The per-dimension maximum of `self` and `other` (ports: union) — the
    /// smallest bag containing both, e.g. "the largest free amount of each
    /// resource on any node".
    pub fn max_each(&self, other: &Resources) -> Resources {
        Resources {
            cpus: self.cpus.max(other.cpus),
            mem: self.mem.max(other.mem),
            disk: self.disk.max(other.disk),
            gpus: self.gpus.max(other.gpus),
            ports: self.ports.union(&other.ports),
        }
    }

    /// `Ok` if `self` fits in `available`; otherwise every dimension that
    /// does not fit, with what is needed and what is available.
    pub fn fits_in(&self, available: &Resources) -> Result<(), Shortfall> {
        let mut dimensions = Vec::new();
        if self.cpus > available.cpus {
            dimensions.push(DimensionShortfall::Cpus {
                need: self.cpus,
                have: available.cpus,
            });
        }
        if self.mem > available.mem {
            dimensions.push(DimensionShortfall::Mem {
                need: self.mem,
                have: available.mem,
            });
        }
        if self.disk > available.disk {
            dimensions.push(DimensionShortfall::Disk {
                need: self.disk,
                have: available.disk,
            });
        }
        if self.gpus > available.gpus {
            dimensions.push(DimensionShortfall::Gpus {
                need: self.gpus,
                have: available.gpus,
            });
        }
        if !available.ports.contains(&self.ports) {
            dimensions.push(DimensionShortfall::Ports {
                need: self.ports.clone(),
                have: available.ports.clone(),
            });
        }
        if dimensions.is_empty() {
            Ok(())
        } else {
            Err(Shortfall { dimensions })
        }
    }

    /// The dominant resource share of `self` within `total` (DRF): the
    /// largest of used/total over cpus, mem, disk and gpus, ignoring
    /// dimensions whose total is zero. Zero if every total is zero.
    pub fn dominant_share(&self, total: &Resources) -> f64 {
        [
            (self.cpus.0, total.cpus.0),
            (self.mem.0, total.mem.0),
            (self.disk.0, total.disk.0),
            (self.gpus, total.gpus),
        ]
        .into_iter()
        .filter(|&(_, total)| total != 0)
        .map(|(used, total)| used as f64 / total as f64)
        .fold(0.0, f64::max)
    }

    /// Kubernetes resource requests: `cpu`, `memory`, `ephemeral-storage`
    /// and `nvidia.com/gpu`, omitting zero dimensions. Ports are not a
    /// Kubernetes resource and are left out.
    pub fn to_k8s_requests(&self) -> BTreeMap<String, Quantity> {
        let mut map = BTreeMap::new();
        if !self.cpus.is_zero() {
            map.insert(CPU_RESOURCE.to_owned(), self.cpus.to_quantity());
        }
        if !self.mem.is_zero() {
            map.insert(MEMORY_RESOURCE.to_owned(), self.mem.to_quantity());
        }
        if !self.disk.is_zero() {
            map.insert(
                EPHEMERAL_STORAGE_RESOURCE.to_owned(),
                self.disk.to_quantity(),
            );
        }
        if self.gpus != 0 {
            map.insert(GPU_RESOURCE.to_owned(), Quantity(self.gpus.to_string()));
        }
        map
    }

    /// Reads `cpu`, `memory`, `ephemeral-storage` and `nvidia.com/gpu` from
    /// a Kubernetes resource map (requests, limits, capacity or
    /// allocatable), ignoring other keys. CPU rounds up to milli-CPUs and
    /// bytes round up to whole bytes; GPUs must be whole numbers.
    pub fn from_k8s(map: &BTreeMap<String, Quantity>) -> Result<Resources, QuantityError> {
        fn read<T>(
            map: &BTreeMap<String, Quantity>,
            resource: &str,
            convert: fn(&Quantity) -> Result<T, QuantityError>,
        ) -> Result<Option<T>, QuantityError> {
            map.get(resource)
                .map(|quantity| {
                    convert(quantity).map_err(|error| QuantityError::InResource {
                        resource: resource.to_owned(),
                        error: Box::new(error),
                    })
                })
                .transpose()
        }
        Ok(Resources {
            cpus: Cpus::from_millis(
                read(map, CPU_RESOURCE, cpu_millis_from_quantity)?.unwrap_or(0),
            ),
            mem: Mebibytes::from_bytes(
                read(map, MEMORY_RESOURCE, bytes_from_quantity)?.unwrap_or(0),
            ),
            disk: Mebibytes::from_bytes(
                read(map, EPHEMERAL_STORAGE_RESOURCE, bytes_from_quantity)?.unwrap_or(0),
            ),
            gpus: read(map, GPU_RESOURCE, whole_from_quantity)?.unwrap_or(0),
            ports: PortRanges::empty(),
        })
    }
}

/// Mesos style: `cpus:1.5;mem:256;disk:1024;gpus:1;ports:[31000-31005]`,
/// omitting zero dimensions; `{}` when empty.
impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("{}");
        }
        let mut sep = "";
        let mut item = |f: &mut fmt::Formatter<'_>, args: fmt::Arguments<'_>| {
            let result = write!(f, "{sep}{args}");
            sep = ";";
            result
        };
        if !self.cpus.is_zero() {
            item(f, format_args!("cpus:{}", self.cpus))?;
        }
        if !self.mem.is_zero() {
            item(f, format_args!("mem:{}", self.mem))?;
        }
        if !self.disk.is_zero() {
            item(f, format_args!("disk:{}", self.disk))?;
        }
        if self.gpus != 0 {
            item(f, format_args!("gpus:{}", self.gpus))?;
        }
        if !self.ports.is_empty() {
            item(f, format_args!("ports:{}", self.ports))?;
        }
        Ok(())
    }
}

/// `a + b` is [`Resources::checked_add`]: `None` on overflow.
impl Add for Resources {
    type Output = Option<Resources>;

    fn add(self, other: Resources) -> Option<Resources> {
        self.checked_add(&other)
    }
}

/// `&a + &b` is [`Resources::checked_add`]: `None` on overflow.
impl Add<&Resources> for &Resources {
    type Output = Option<Resources>;

    fn add(self, other: &Resources) -> Option<Resources> {
        self.checked_add(other)
    }
}

/// Checked sum: `iter.sum::<Option<Resources>>()` is `None` on overflow.
impl Sum<Resources> for Option<Resources> {
    fn sum<I: Iterator<Item = Resources>>(mut iter: I) -> Option<Resources> {
        iter.try_fold(Resources::default(), |acc, r| acc.checked_add(&r))
    }
}

/// Checked sum: `iter.sum::<Option<Resources>>()` is `None` on overflow.
impl<'a> Sum<&'a Resources> for Option<Resources> {
    fn sum<I: Iterator<Item = &'a Resources>>(mut iter: I) -> Option<Resources> {
        iter.try_fold(Resources::default(), |acc, r| acc.checked_add(r))
    }
}

#[cfg(test)]
mod tests;
