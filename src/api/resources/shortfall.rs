//! Why a request does not fit in what is available, dimension by dimension.

use std::fmt;

use super::{Cpus, Mebibytes, PortRanges};

/// One dimension in which a request exceeds what is available.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DimensionShortfall {
    /// Not enough CPU.
    Cpus {
        /// Requested.
        need: Cpus,
        /// Available.
        have: Cpus,
    },
    /// Not enough memory.
    Mem {
        /// Requested.
        need: Mebibytes,
        /// Available.
        have: Mebibytes,
    },
    /// Not enough disk.
    Disk {
        /// Requested.
        need: Mebibytes,
        /// Available.
        have: Mebibytes,
    },
    /// Not enough GPUs.
    Gpus {
        /// Requested.
        need: u64,
        /// Available.
        have: u64,
    },
    /// Requested ports that are not all available.
    Ports {
        /// Requested.
        need: PortRanges,
        /// Available.
        have: PortRanges,
    },
}

impl DimensionShortfall {
    /// The Mesos name of the dimension (`cpus`, `mem`, `disk`, `gpus`, `ports`).
    pub fn name(&self) -> &'static str {
        match self {
            DimensionShortfall::Cpus { .. } => "cpus",
            DimensionShortfall::Mem { .. } => "mem",
            DimensionShortfall::Disk { .. } => "disk",
            DimensionShortfall::Gpus { .. } => "gpus",
            DimensionShortfall::Ports { .. } => "ports",
        }
    }

    /// The amount needed with its unit, e.g. `64 cpus`, `512 MiB mem`,
    /// `1 gpus`, `ports [31000-31000]`.
    pub fn needed(&self) -> String {
        self.amount(true)
    }

    /// The amount available with its unit, e.g. `31.5 cpus`, `256 MiB mem`.
    pub fn available(&self) -> String {
        self.amount(false)
    }

    /// For ports: the requested ports that are not available.
    pub fn missing_ports(&self) -> Option<PortRanges> {
        match self {
            DimensionShortfall::Ports { need, have } => Some(need.difference(have)),
            _ => None,
        }
    }

    fn amount(&self, need_side: bool) -> String {
        let name = self.name();
        let pick = |need: &dyn fmt::Display, have: &dyn fmt::Display| {
            if need_side {
                need.to_string()
            } else {
                have.to_string()
            }
        };
        match self {
            DimensionShortfall::Cpus { need, have } => format!("{} {name}", pick(need, have)),
            DimensionShortfall::Mem { need, have } | DimensionShortfall::Disk { need, have } => {
                format!("{} MiB {name}", pick(need, have))
            }
            DimensionShortfall::Gpus { need, have } => format!("{} {name}", pick(need, have)),
            DimensionShortfall::Ports { need, have } => format!("{name} {}", pick(need, have)),
        }
    }
}

/// `cpus: need 64, have 31.5`; `ports: need [31000-31001], have [31001-31005]`.
impl fmt::Display for DimensionShortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        match self {
            DimensionShortfall::Cpus { need, have } => {
                write!(f, "{name}: need {need}, have {have}")
            }
            DimensionShortfall::Mem { need, have } | DimensionShortfall::Disk { need, have } => {
                write!(f, "{name}: need {need}, have {have}")
            }
            DimensionShortfall::Gpus { need, have } => {
                write!(f, "{name}: need {need}, have {have}")
            }
            DimensionShortfall::Ports { need, have } => {
                write!(f, "{name}: need {need}, have {have}")
            }
        }
    }
}

/// Why a request does not fit: every dimension that falls short, in the
/// order cpus, mem, disk, gpus, ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shortfall {
    pub(super) dimensions: Vec<DimensionShortfall>,
}

impl Shortfall {
    /// Every dimension that falls short (non-empty when built by
    /// [`Resources::fits_in`]).
    pub fn dimensions(&self) -> &[DimensionShortfall] {
        &self.dimensions
    }

    /// The first dimension that falls short.
    pub fn first(&self) -> Option<&DimensionShortfall> {
        self.dimensions.first()
    }

    /// What the first short dimension needs, e.g. `64 cpus` (for messages
    /// like "no node has 64 cpus free; largest free: 31.5 cpus").
    pub fn needed(&self) -> String {
        self.first()
            .map(DimensionShortfall::needed)
            .unwrap_or_default()
    }

    /// What is available in the first short dimension, e.g. `31.5 cpus`.
    pub fn available(&self) -> String {
        self.first()
            .map(DimensionShortfall::available)
            .unwrap_or_default()
    }
}

/// The dimensions joined by `; `, e.g. `cpus: need 64, have 31.5; gpus: need 1, have 0`.
impl fmt::Display for Shortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, dimension) in self.dimensions.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{dimension}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Shortfall {}
