// TEMPORARY STUB (lead) — replaced by the helper's exact implementation.
#![allow(missing_docs)]
use std::collections::BTreeMap;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde::{Deserialize, Serialize};

pub const GPU_RESOURCE: &str = "nvidia.com/gpu";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cpus(pub u64);
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mebibytes(pub u64);
impl Cpus { pub fn is_zero(&self) -> bool { self.0 == 0 } }
impl Mebibytes { pub fn is_zero(&self) -> bool { self.0 == 0 } }
impl Serialize for Cpus { fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> { s.serialize_f64(self.0 as f64 / 1000.0) } }
impl<'de> Deserialize<'de> for Cpus { fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> { let f = f64::deserialize(d)?; Ok(Cpus((f * 1000.0).round() as u64)) } }
impl Serialize for Mebibytes { fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> { s.serialize_f64(self.0 as f64 / 1048576.0) } }
impl<'de> Deserialize<'de> for Mebibytes { fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> { let f = f64::deserialize(d)?; Ok(Mebibytes((f * 1048576.0).round() as u64)) } }
impl schemars::JsonSchema for Cpus { fn schema_name() -> std::borrow::Cow<'static, str> { "Cpus".into() } fn inline_schema() -> bool { true } fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema { schemars::json_schema!({"type": "number", "minimum": 0}) } }
impl schemars::JsonSchema for Mebibytes { fn schema_name() -> std::borrow::Cow<'static, str> { "Mebibytes".into() } fn inline_schema() -> bool { true } fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema { schemars::json_schema!({"type": "number", "minimum": 0}) } }

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PortRange { pub begin: u16, pub end: u16 }
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PortRanges(pub Vec<PortRange>);
impl PortRanges {
    pub fn new(v: Vec<PortRange>) -> Self { PortRanges(v) }
    pub fn is_empty(&self) -> bool { self.0.is_empty() }
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ { self.0.iter().flat_map(|r| r.begin..=r.end) }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Cpus::is_zero")] pub cpus: Cpus,
    #[serde(default, skip_serializing_if = "Mebibytes::is_zero")] pub mem: Mebibytes,
    #[serde(default, skip_serializing_if = "Mebibytes::is_zero")] pub disk: Mebibytes,
    #[serde(default)] pub gpus: u64,
    #[serde(default, skip_serializing_if = "PortRanges::is_empty")] pub ports: PortRanges,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortfall { pub dimension: &'static str, pub need: String, pub have: String }
impl Shortfall { pub fn needed(&self) -> String { format!("{}: {}", self.dimension, self.need) } pub fn available(&self) -> String { format!("{}: {}", self.dimension, self.have) } }
impl std::fmt::Display for Shortfall { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "{}: need {}, have {}", self.dimension, self.need, self.have) } }
impl std::fmt::Display for Resources { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "cpus:{};mem:{}", self.cpus.0 as f64 / 1000.0, self.mem.0 / 1048576) } }
impl Resources {
    pub fn checked_add(&self, o: &Self) -> Option<Self> { Some(Self { cpus: Cpus(self.cpus.0 + o.cpus.0), mem: Mebibytes(self.mem.0 + o.mem.0), disk: Mebibytes(self.disk.0 + o.disk.0), gpus: self.gpus + o.gpus, ports: self.ports.clone() }) }
    pub fn saturating_sub(&self, o: &Self) -> Self { Self { cpus: Cpus(self.cpus.0.saturating_sub(o.cpus.0)), mem: Mebibytes(self.mem.0.saturating_sub(o.mem.0)), disk: Mebibytes(self.disk.0.saturating_sub(o.disk.0)), gpus: self.gpus.saturating_sub(o.gpus), ports: self.ports.clone() } }
    pub fn max_each(&self, o: &Self) -> Self { Self { cpus: self.cpus.max(o.cpus), mem: self.mem.max(o.mem), disk: self.disk.max(o.disk), gpus: self.gpus.max(o.gpus), ports: self.ports.clone() } }
    pub fn fits_in(&self, a: &Self) -> Result<(), Shortfall> { if self.cpus.0 > a.cpus.0 { return Err(Shortfall { dimension: "cpus", need: format!("{}", self.cpus.0 as f64 / 1000.0), have: format!("{}", a.cpus.0 as f64 / 1000.0) }) } if self.mem.0 > a.mem.0 { return Err(Shortfall { dimension: "mem", need: String::new(), have: String::new() }) } Ok(()) }
    pub fn to_k8s_requests(&self) -> BTreeMap<String, Quantity> { let mut m = BTreeMap::new(); if self.cpus.0 > 0 { m.insert("cpu".into(), Quantity(if self.cpus.0 % 1000 == 0 { format!("{}", self.cpus.0 / 1000) } else { format!("{}m", self.cpus.0) })); } if self.mem.0 > 0 { m.insert("memory".into(), Quantity(if self.mem.0 % (1<<30) == 0 { format!("{}Gi", self.mem.0 >> 30) } else { format!("{}Mi", self.mem.0 >> 20) })); } if self.disk.0 > 0 { m.insert("ephemeral-storage".into(), Quantity(format!("{}Mi", self.disk.0 >> 20))); } m }
}
pub fn cpu_millis_from_quantity(q: &Quantity) -> Result<u64, String> { let s = &q.0; if let Some(m) = s.strip_suffix('m') { m.parse().map_err(|_| s.clone()) } else { s.parse::<u64>().map(|v| v * 1000).map_err(|_| s.clone()) } }
pub fn bytes_from_quantity(q: &Quantity) -> Result<u64, String> { let s = &q.0; for (suf, mul) in [("Ki", 1u64 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("Ti", 1 << 40)] { if let Some(v) = s.strip_suffix(suf) { return v.parse::<u64>().map(|v| v * mul).map_err(|_| s.clone()); } } s.parse().map_err(|_| s.clone()) }
