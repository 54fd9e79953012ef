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

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::iter::Sum;
use std::ops::Add;
use std::str::FromStr;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Kubernetes resource name for CPU.
pub const CPU_RESOURCE: &str = "cpu";
/// Kubernetes resource name for memory.
pub const MEMORY_RESOURCE: &str = "memory";
/// Kubernetes resource name for local ephemeral storage (Mesos `disk`).
pub const EPHEMERAL_STORAGE_RESOURCE: &str = "ephemeral-storage";
/// Kubernetes extended resource name for NVIDIA GPUs (Mesos `gpus`).
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// Bytes in one mebibyte.
const MIB: u64 = 1 << 20;
/// Milli-CPUs in one CPU.
const MILLIS_PER_CPU: u64 = 1000;

/// Builds a schema from a JSON object literal without panicking.
fn schema_from_json(value: serde_json::Value) -> Schema {
    match value {
        serde_json::Value::Object(map) => Schema::from(map),
        _ => Schema::from(true),
    }
}

/// Formats `whole.frac` where `frac` has `places` decimal places, trimming
/// trailing zeros (and the point itself when `frac` is zero).
fn fixed_point(whole: u64, frac: u64, places: usize) -> String {
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:0places$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

// ---------------------------------------------------------------------------
// Cpus
// ---------------------------------------------------------------------------

/// An amount of CPU, stored exactly as milli-CPUs (`Cpus(1500)` is 1.5 CPUs).
///
/// On the wire it is a JSON number of CPUs (`1.5`). Deserialization is exact
/// for every value with at most three decimals; finer values round *up* to
/// the next milli-CPU so a tiny non-zero request never becomes zero. A
/// Kubernetes quantity string (`"500m"`, `"2"`) is accepted as input too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cpus(pub u64);

impl Cpus {
    /// No CPU.
    pub const ZERO: Cpus = Cpus(0);
    /// The largest value accepted by deserialization: 10^12 CPUs. Every value
    /// up to this one survives a JSON round trip exactly.
    pub const MAX: Cpus = Cpus(1_000_000_000_000_000);

    /// Creates an amount from milli-CPUs.
    pub const fn from_millis(millis: u64) -> Self {
        Cpus(millis)
    }

    /// Creates an amount from whole CPUs; `None` on overflow.
    pub const fn from_whole(cpus: u64) -> Option<Self> {
        match cpus.checked_mul(MILLIS_PER_CPU) {
            Some(millis) => Some(Cpus(millis)),
            None => None,
        }
    }

    /// The amount in milli-CPUs.
    pub const fn millis(self) -> u64 {
        self.0
    }

    /// Whether this is zero CPUs.
    pub const fn is_zero(&self) -> bool {
        self.0 == 0
    }

    /// Exact addition; `None` on overflow.
    pub fn checked_add(self, other: Cpus) -> Option<Cpus> {
        self.0.checked_add(other.0).map(Cpus)
    }

    /// Exact subtraction; `None` if the result would be negative.
    pub fn checked_sub(self, other: Cpus) -> Option<Cpus> {
        self.0.checked_sub(other.0).map(Cpus)
    }

    /// Subtraction clamped at zero.
    pub fn saturating_sub(self, other: Cpus) -> Cpus {
        Cpus(self.0.saturating_sub(other.0))
    }

    /// The Kubernetes quantity: whole CPUs when exact (`"2"`), else milli-CPUs
    /// (`"1500m"`).
    pub fn to_quantity(self) -> Quantity {
        if self.0.is_multiple_of(MILLIS_PER_CPU) {
            Quantity((self.0 / MILLIS_PER_CPU).to_string())
        } else {
            Quantity(format!("{}m", self.0))
        }
    }

    /// Reads a Kubernetes CPU quantity, rounding up to whole milli-CPUs.
    pub fn from_quantity(quantity: &Quantity) -> Result<Cpus, QuantityError> {
        cpu_millis_from_quantity(quantity).map(Cpus)
    }
}

/// Decimal CPUs without float noise: 1500 milli-CPUs → `1.5`, 100 → `0.1`.
impl fmt::Display for Cpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&fixed_point(
            self.0 / MILLIS_PER_CPU,
            self.0 % MILLIS_PER_CPU,
            3,
        ))
    }
}

/// Parses a Kubernetes CPU quantity (`"1.5"`, `"500m"`, `"2"`), rounding up to
/// whole milli-CPUs. Any value representable as `u64` milli-CPUs is accepted.
impl FromStr for Cpus {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Cpus, QuantityError> {
        let parsed = parse_quantity(s)?;
        to_units(&parsed, s, 3, 0, "cpu").map(Cpus)
    }
}

impl Serialize for Cpus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.is_multiple_of(MILLIS_PER_CPU) {
            serializer.serialize_u64(self.0 / MILLIS_PER_CPU)
        } else {
            // Exact for every value up to `Cpus::MAX`: the decimal has at most
            // 15 significant digits, so the shortest float representation
            // printed by serde_json is exactly that decimal.
            serializer.serialize_f64(self.0 as f64 / MILLIS_PER_CPU as f64)
        }
    }
}

impl<'de> Deserialize<'de> for Cpus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Cpus, D::Error> {
        deserializer.deserialize_any(CpusVisitor)
    }
}

struct CpusVisitor;

impl CpusVisitor {
    fn bounded<E: de::Error>(millis: Option<u64>, shown: &dyn fmt::Display) -> Result<Cpus, E> {
        match millis {
            Some(millis) if millis <= Cpus::MAX.0 => Ok(Cpus(millis)),
            _ => Err(E::custom(format_args!(
                "invalid cpus value {shown}: exceeds the maximum of {} cpus",
                Cpus::MAX
            ))),
        }
    }
}

impl Visitor<'_> for CpusVisitor {
    type Value = Cpus;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative number of CPUs (e.g. 1.5) or a Kubernetes CPU quantity string")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cpus, E> {
        Self::bounded(v.checked_mul(MILLIS_PER_CPU), &v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cpus, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(format_args!(
                "invalid cpus value {v}: must not be negative"
            ))),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cpus, E> {
        match units_from_f64(v, 3, 0) {
            Ok(millis) => Self::bounded(Some(millis), &v),
            Err(NumberError::TooLarge) => Self::bounded(None, &v),
            Err(err) => Err(E::custom(format_args!("invalid cpus value {v}: {err}"))),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cpus, E> {
        match v.parse::<Cpus>() {
            Ok(cpus) => Self::bounded(Some(cpus.0), &format_args!("{v:?}")),
            Err(err) => Err(E::custom(format_args!("invalid cpus value: {err}"))),
        }
    }
}

impl JsonSchema for Cpus {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Cpus".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schema_from_json(serde_json::json!({
            "type": "number", "minimum": 0, "maximum": Resources::MAX_CPUS.0 / MILLIS_PER_CPU,
        }))
    }
}

// ---------------------------------------------------------------------------
// Mebibytes
// ---------------------------------------------------------------------------

/// An amount of memory or disk, stored exactly as **bytes**
/// (`Mebibytes(1 << 20)` is 1 MiB).
///
/// On the wire it is a JSON number of MiB, Mesos' unit (`256`, `0.5`);
/// fractional values round *up* to whole bytes. A Kubernetes quantity string
/// is accepted as input too and, as in Kubernetes, counts **bytes**
/// (`"256Mi"`, `"1Gi"`, `"1000"` = 1000 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mebibytes(pub u64);

impl Mebibytes {
    /// No bytes.
    pub const ZERO: Mebibytes = Mebibytes(0);

    /// Creates an amount from bytes.
    pub const fn from_bytes(bytes: u64) -> Self {
        Mebibytes(bytes)
    }

    /// Creates an amount from whole MiB; `None` on overflow.
    pub const fn from_mib(mib: u64) -> Option<Self> {
        match mib.checked_mul(MIB) {
            Some(bytes) => Some(Mebibytes(bytes)),
            None => None,
        }
    }

    /// The amount in bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }

    /// Whether this is zero bytes.
    pub const fn is_zero(&self) -> bool {
        self.0 == 0
    }

    /// Exact addition; `None` on overflow.
    pub fn checked_add(self, other: Mebibytes) -> Option<Mebibytes> {
        self.0.checked_add(other.0).map(Mebibytes)
    }

    /// Exact subtraction; `None` if the result would be negative.
    pub fn checked_sub(self, other: Mebibytes) -> Option<Mebibytes> {
        self.0.checked_sub(other.0).map(Mebibytes)
    }

    /// Subtraction clamped at zero.
    pub fn saturating_sub(self, other: Mebibytes) -> Mebibytes {
        Mebibytes(self.0.saturating_sub(other.0))
    }

    /// The Kubernetes quantity in the largest exact binary suffix (`"256Mi"`,
    /// `"1536Mi"`, `"3Gi"`), or plain bytes.
    pub fn to_quantity(self) -> Quantity {
        const SUFFIXES: [(&str, u32); 6] = [
            ("Ei", 60),
            ("Pi", 50),
            ("Ti", 40),
            ("Gi", 30),
            ("Mi", 20),
            ("Ki", 10),
        ];
        if self.0 != 0 {
            for (suffix, shift) in SUFFIXES {
                if self.0.trailing_zeros() >= shift {
                    return Quantity(format!("{}{suffix}", self.0 >> shift));
                }
            }
        }
        Quantity(self.0.to_string())
    }

    /// Reads a Kubernetes byte quantity, rounding up to whole bytes.
    pub fn from_quantity(quantity: &Quantity) -> Result<Mebibytes, QuantityError> {
        bytes_from_quantity(quantity).map(Mebibytes)
    }

    /// The wire value: a decimal with at most 15 significant digits `d` such
    /// that `ceil(d * 2^20) == self.0` (exact below 10^8 MiB).
    fn wire_f64(self) -> f64 {
        let bytes = u128::from(self.0);
        let mib = u128::from(MIB);
        let mut scale: u128 = 1;
        loop {
            scale *= 10;
            let truncated = bytes * scale / mib;
            // Seven decimals always suffice: 10^-7 MiB is less than one byte.
            if truncated * mib > bytes.saturating_sub(1) * scale || scale >= 10_000_000 {
                return truncated as f64 / scale as f64;
            }
        }
    }
}

/// MiB with up to six decimals (rounded to nearest), exact when integral:
/// `268435456` bytes → `256`, `524288` → `0.5`.
impl fmt::Display for Mebibytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut whole = self.0 / MIB;
        let rem = u128::from(self.0 % MIB);
        let mut frac = (rem * 1_000_000 + u128::from(MIB / 2)) / u128::from(MIB);
        if frac == 1_000_000 {
            whole += 1;
            frac = 0;
        }
        // `frac` < 10^6 here.
        f.pad(&fixed_point(whole, u64::try_from(frac).unwrap_or(0), 6))
    }
}

impl Serialize for Mebibytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.is_multiple_of(MIB) {
            serializer.serialize_u64(self.0 / MIB)
        } else {
            serializer.serialize_f64(self.wire_f64())
        }
    }
}

impl<'de> Deserialize<'de> for Mebibytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Mebibytes, D::Error> {
        deserializer.deserialize_any(MebibytesVisitor)
    }
}

struct MebibytesVisitor;

impl Visitor<'_> for MebibytesVisitor {
    type Value = Mebibytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative number of MiB (e.g. 256) or a Kubernetes byte quantity string")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Mebibytes, E> {
        Mebibytes::from_mib(v).ok_or_else(|| {
            E::custom(format_args!(
                "invalid MiB value {v}: {}",
                NumberError::TooLarge
            ))
        })
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Mebibytes, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(format_args!(
                "invalid MiB value {v}: {}",
                NumberError::Negative
            ))),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Mebibytes, E> {
        units_from_f64(v, 0, 20)
            .map(Mebibytes)
            .map_err(|err| E::custom(format_args!("invalid MiB value {v}: {err}")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Mebibytes, E> {
        parse_quantity(v)
            .and_then(|parsed| to_units(&parsed, v, 0, 0, "bytes"))
            .map(Mebibytes)
            .map_err(|err| E::custom(format_args!("invalid byte quantity: {err}")))
    }
}

impl JsonSchema for Mebibytes {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Mebibytes".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schema_from_json(serde_json::json!({
            "type": "number", "minimum": 0, "maximum": Resources::MAX_BYTES.0 / MIB,
        }))
    }
}

/// Why a JSON number could not be converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberError {
    NotFinite,
    Negative,
    TooLarge,
}

impl fmt::Display for NumberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NumberError::NotFinite => "must be a finite number",
            NumberError::Negative => "must not be negative",
            NumberError::TooLarge => "is too large",
        })
    }
}

/// Converts a float read from JSON into `ceil(value * 10^pow10 * 2^pow2)`.
///
/// The float is first turned back into its shortest round-trip decimal (the
/// digits the user most likely wrote: `0.1`, not `0.1000000000000000055…`),
/// and that decimal is scaled exactly.
fn units_from_f64(value: f64, pow10: i32, pow2: u32) -> Result<u64, NumberError> {
    if !value.is_finite() {
        return Err(NumberError::NotFinite);
    }
    if value < 0.0 {
        return Err(NumberError::Negative);
    }
    // `{}` prints the shortest digits that round-trip, never in exponent form.
    let decimal = format!("{value}");
    let parsed = parse_quantity(&decimal).map_err(|_| NumberError::NotFinite)?;
    parsed
        .scaled(pow10, pow2)
        .map(|(units, _)| units)
        .ok_or(NumberError::TooLarge)
}

// ---------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------

/// An inclusive range of host ports, `begin..=end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "RawPortRange")]
pub struct PortRange {
    /// First port of the range (inclusive), 1..=65535.
    pub begin: u16,
    /// Last port of the range (inclusive), `begin..=65535`.
    pub end: u16,
}

/// Error for an invalid [`PortRange`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid port range {begin}-{end}: {reason}")]
pub struct PortRangeError {
    /// The requested first port.
    pub begin: u16,
    /// The requested last port.
    pub end: u16,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl PortRange {
    /// Creates a range, requiring `1 <= begin <= end`.
    pub fn new(begin: u16, end: u16) -> Result<PortRange, PortRangeError> {
        let reason = if begin == 0 {
            "port 0 is not a valid host port"
        } else if begin > end {
            "begin must not be greater than end"
        } else {
            return Ok(PortRange { begin, end });
        };
        Err(PortRangeError { begin, end, reason })
    }

    /// A range holding the single port `port` (must not be 0).
    pub fn single(port: u16) -> Result<PortRange, PortRangeError> {
        PortRange::new(port, port)
    }

    /// Number of ports in the range (0 if `begin > end`).
    pub fn len(&self) -> usize {
        if self.begin > self.end {
            0
        } else {
            usize::from(self.end - self.begin) + 1
        }
    }

    /// Whether the range holds no ports (only if built with `begin > end`).
    pub fn is_empty(&self) -> bool {
        self.begin > self.end
    }

    /// Whether `port` lies in the range.
    pub fn contains_port(&self, port: u16) -> bool {
        self.begin <= port && port <= self.end
    }
}

/// `begin-end`, Mesos style (a single port prints as `p-p`).
impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.begin, self.end)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPortRange {
    begin: u16,
    end: u16,
}

impl TryFrom<RawPortRange> for PortRange {
    type Error = PortRangeError;

    fn try_from(raw: RawPortRange) -> Result<PortRange, PortRangeError> {
        PortRange::new(raw.begin, raw.end)
    }
}

impl JsonSchema for PortRange {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "PortRange".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schema_from_json(serde_json::json!({
            "type": "object",
            "description": "An inclusive range of host ports.",
            "required": ["begin", "end"],
            "x-kubernetes-validations": [{
                "rule": "self.begin <= self.end",
                "message": "a port range's begin must not be greater than its end",
            }],
            "properties": {
                "begin": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 65535,
                    "description": "First port of the range (inclusive)."
                },
                "end": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 65535,
                    "description": "Last port of the range (inclusive); must not be less than begin."
                }
            }
        }))
    }
}

/// A set of host ports, kept normalized: sorted, non-overlapping,
/// non-adjacent ranges of ports in 1..=65535.
///
/// Every constructor, deserialization and set operation yields the
/// normalized form, so two `PortRanges` are equal iff they hold the same
/// ports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PortRanges(Vec<PortRange>);

impl PortRanges {
    /// The most ranges a normalized set can hold (every other port of 1..=65535); the
    /// schema's bound on a list of ranges.
    pub const MAX_RANGES: usize = 32_768;

    /// The empty set.
    pub const fn empty() -> Self {
        PortRanges(Vec::new())
    }

    /// Normalizes arbitrary ranges (in any order, overlapping or adjacent)
    /// into a set. Ranges with `begin > end` are ignored and port 0 is
    /// dropped.
    pub fn new(ranges: impl IntoIterator<Item = PortRange>) -> Self {
        let mut ranges: Vec<PortRange> = ranges
            .into_iter()
            .filter(|r| r.begin <= r.end && r.end != 0)
            .map(|r| PortRange {
                begin: r.begin.max(1),
                end: r.end,
            })
            .collect();
        ranges.sort_unstable();
        let mut merged: Vec<PortRange> = Vec::with_capacity(ranges.len());
        for range in ranges {
            match merged.last_mut() {
                Some(last) if u32::from(range.begin) <= u32::from(last.end) + 1 => {
                    last.end = last.end.max(range.end);
                }
                _ => merged.push(range),
            }
        }
        PortRanges(merged)
    }

    /// The normalized ranges, ascending.
    pub fn ranges(&self) -> &[PortRange] {
        &self.0
    }

    /// Whether the set holds no ports.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of ports in the set.
    pub fn len(&self) -> usize {
        self.0.iter().map(PortRange::len).sum()
    }

    /// Whether `port` is in the set.
    pub fn contains_port(&self, port: u16) -> bool {
        let idx = self.0.partition_point(|r| r.end < port);
        self.0.get(idx).is_some_and(|r| r.contains_port(port))
    }

    /// Whether every port of `other` is in `self` (subset test).
    pub fn contains(&self, other: &PortRanges) -> bool {
        other.0.iter().all(|needed| {
            let idx = self.0.partition_point(|r| r.end < needed.begin);
            self.0
                .get(idx)
                .is_some_and(|r| r.begin <= needed.begin && needed.end <= r.end)
        })
    }

    /// Ports in `self` or `other`.
    pub fn union(&self, other: &PortRanges) -> PortRanges {
        PortRanges::new(self.0.iter().chain(other.0.iter()).copied())
    }

    /// Ports in both `self` and `other`.
    pub fn intersection(&self, other: &PortRanges) -> PortRanges {
        let mut out = Vec::new();
        let (mut i, mut j) = (0, 0);
        while let (Some(a), Some(b)) = (self.0.get(i), other.0.get(j)) {
            let begin = a.begin.max(b.begin);
            let end = a.end.min(b.end);
            if begin <= end {
                out.push(PortRange { begin, end });
            }
            if a.end < b.end {
                i += 1;
            } else {
                j += 1;
            }
        }
        PortRanges::new(out)
    }

    /// Ports in `self` but not in `other`.
    pub fn difference(&self, other: &PortRanges) -> PortRanges {
        self.intersection(&other.complement())
    }

    /// All valid ports (1..=65535) not in `self`.
    fn complement(&self) -> PortRanges {
        let mut out = Vec::with_capacity(self.0.len() + 1);
        let mut next: u32 = 1;
        for range in &self.0 {
            if u32::from(range.begin) > next {
                out.push((next, u32::from(range.begin) - 1));
            }
            next = u32::from(range.end) + 1;
        }
        if next <= u32::from(u16::MAX) {
            out.push((next, u32::from(u16::MAX)));
        }
        PortRanges::new(out.into_iter().filter_map(|(b, e)| {
            Some(PortRange {
                begin: u16::try_from(b).ok()?,
                end: u16::try_from(e).ok()?,
            })
        }))
    }

    /// The `n` lowest ports of the set, or `None` if it holds fewer than `n`.
    pub fn take(&self, n: usize) -> Option<PortRanges> {
        let mut remaining = n;
        let mut out = Vec::new();
        for range in &self.0 {
            if remaining == 0 {
                break;
            }
            let len = range.len();
            if len <= remaining {
                out.push(*range);
                remaining -= len;
            } else {
                // remaining < len <= 65535, so this fits in u16.
                let extra = u16::try_from(remaining - 1).ok()?;
                out.push(PortRange {
                    begin: range.begin,
                    end: range.begin + extra,
                });
                remaining = 0;
            }
        }
        (remaining == 0).then_some(PortRanges(out))
    }

    /// Iterates over the individual ports, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.0.iter().flat_map(|r| r.begin..=r.end)
    }
}

impl From<PortRange> for PortRanges {
    fn from(range: PortRange) -> Self {
        PortRanges::new([range])
    }
}

impl FromIterator<PortRange> for PortRanges {
    fn from_iter<I: IntoIterator<Item = PortRange>>(iter: I) -> Self {
        PortRanges::new(iter)
    }
}

/// Collects individual ports (port 0 is dropped).
impl FromIterator<u16> for PortRanges {
    fn from_iter<I: IntoIterator<Item = u16>>(iter: I) -> Self {
        PortRanges::new(iter.into_iter().map(|p| PortRange { begin: p, end: p }))
    }
}

/// `[31000-31005,32000-32000]`, Mesos style.
impl fmt::Display for PortRanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, range) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{range}")?;
        }
        f.write_str("]")
    }
}

impl Serialize for PortRanges {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(&self.0)
    }
}

impl<'de> Deserialize<'de> for PortRanges {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PortRanges, D::Error> {
        Vec::<PortRange>::deserialize(deserializer).map(PortRanges::new)
    }
}

impl JsonSchema for PortRanges {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "PortRanges".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        schema_from_json(serde_json::json!({
            "type": "array",
            "maxItems": PortRanges::MAX_RANGES,
            "items": generator.subschema_for::<PortRange>(),
        }))
    }
}

// ---------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------

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
    pub const MAX_CPUS: Cpus = Cpus(1_000_000_000_000);
    /// The most memory or disk one resource bag may hold: 2^36 MiB (64 PiB), so that any
    /// 255 bags add up exactly in bytes.
    pub const MAX_BYTES: Mebibytes = Mebibytes(1 << 56);
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
            cpus: Cpus(sat(self.cpus.0, other.cpus.0, Self::MAX_CPUS.0)),
            mem: Mebibytes(sat(self.mem.0, other.mem.0, Self::MAX_BYTES.0)),
            disk: Mebibytes(sat(self.disk.0, other.disk.0, Self::MAX_BYTES.0)),
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
            cpus: Cpus(read(map, CPU_RESOURCE, cpu_millis_from_quantity)?.unwrap_or(0)),
            mem: Mebibytes(read(map, MEMORY_RESOURCE, bytes_from_quantity)?.unwrap_or(0)),
            disk: Mebibytes(
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
    dimensions: Vec<DimensionShortfall>,
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

// ---------------------------------------------------------------------------
// Kubernetes quantities
// ---------------------------------------------------------------------------

/// Error reading a Kubernetes quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The text is not a Kubernetes quantity.
    #[error("invalid quantity {input:?}: {reason}")]
    Invalid {
        /// The offending text.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The quantity is negative, which no resource amount may be.
    #[error("quantity {input:?} is negative")]
    Negative {
        /// The offending text.
        input: String,
    },
    /// The quantity does not fit the unit it is converted to.
    #[error("quantity {input:?} is too large for {unit}")]
    TooLarge {
        /// The offending text.
        input: String,
        /// The unit it was converted to (e.g. `cpu`, `bytes`).
        unit: &'static str,
    },
    /// The quantity has a fractional part where a whole number is required.
    #[error("quantity {input:?} is not a whole number")]
    NotInteger {
        /// The offending text.
        input: String,
    },
    /// An error in the named entry of a resource map.
    #[error("{resource}: {error}")]
    InResource {
        /// The resource name (e.g. `memory`).
        resource: String,
        /// What went wrong with it.
        error: Box<QuantityError>,
    },
}

/// An exactly parsed Kubernetes quantity:
/// `±mantissa × 10^exp10 × 2^exp2`.
///
/// The mantissa is kept as decimal digits so that quantities of any length
/// are represented exactly; [`ParsedQuantity::mantissa`] returns it as an
/// `i128` when it fits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ParsedQuantity {
    negative: bool,
    /// Significant decimal digits (values 0..=9), most significant first,
    /// without leading or trailing zeros; empty iff the value is zero.
    digits: Vec<u8>,
    exp10: i64,
    exp2: u32,
}

impl ParsedQuantity {
    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// The signed decimal mantissa (no trailing zeros), if it fits in `i128`.
    pub fn mantissa(&self) -> Option<i128> {
        let mut value: i128 = 0;
        for &digit in &self.digits {
            value = value.checked_mul(10)?.checked_add(i128::from(digit))?;
        }
        Some(if self.negative { -value } else { value })
    }

    /// The power of ten applied to the mantissa.
    pub fn exp10(&self) -> i64 {
        self.exp10
    }

    /// The power of two applied to the mantissa (from a binary suffix).
    pub fn exp2(&self) -> u32 {
        self.exp2
    }

    /// `ceil(value × 10^pow10)` as `u64`; `None` if the value is negative or
    /// the result does not fit. E.g. `ceil_scaled(3)` gives milli-units.
    pub fn ceil_scaled(&self, pow10: i32) -> Option<u64> {
        self.scaled(pow10, 0).map(|(units, _)| units)
    }

    /// `(ceil(value × 10^pow10 × 2^pow2), exact)`; `None` if negative or too
    /// large.
    fn scaled(&self, pow10: i32, pow2: u32) -> Option<(u64, bool)> {
        if self.digits.is_empty() {
            return Some((0, true));
        }
        if self.negative {
            return None;
        }
        let mut digits = self.digits.clone();
        mul_pow2(&mut digits, self.exp2.checked_add(pow2)?);
        let exp = self.exp10.checked_add(i64::from(pow10))?;
        // Number of digits before the decimal point.
        let int_len = i64::try_from(digits.len()).ok()?.checked_add(exp)?;
        if int_len > 20 {
            // The leading digit is non-zero, so the value is >= 10^20 > u64::MAX.
            return None;
        }
        if int_len <= 0 {
            // 0 < value < 1.
            return Some((1, false));
        }
        let int_len = usize::try_from(int_len).ok()?;
        let mut units: u64 = 0;
        for i in 0..int_len {
            let digit = digits.get(i).copied().unwrap_or(0);
            units = units.checked_mul(10)?.checked_add(u64::from(digit))?;
        }
        let exact = digits.iter().skip(int_len).all(|&d| d == 0);
        if exact {
            Some((units, true))
        } else {
            Some((units.checked_add(1)?, false))
        }
    }
}

/// Multiplies a big-endian decimal digit string by `2^exp2`.
fn mul_pow2(digits: &mut Vec<u8>, mut exp2: u32) {
    while exp2 > 0 {
        let step = exp2.min(32);
        exp2 -= step;
        let factor = 1u64 << step;
        let mut carry = 0u64;
        for digit in digits.iter_mut().rev() {
            let value = u64::from(*digit) * factor + carry;
            *digit = (value % 10) as u8;
            carry = value / 10;
        }
        let mut prefix = Vec::new();
        while carry > 0 {
            prefix.push((carry % 10) as u8);
            carry /= 10;
        }
        prefix.reverse();
        digits.splice(0..0, prefix);
    }
}

/// Parses a Kubernetes quantity exactly, accepting what the API server's
/// `resource.ParseQuantity` accepts:
///
/// * an optional sign (`+`/`-`);
/// * a decimal number: `5`, `0.5`, `.5`, `5.`;
/// * an optional suffix: decimal SI (`n`, `u`, `m`, `k`, `M`, `G`, `T`,
///   `P`, `E`), binary SI (`Ki`, `Mi`, `Gi`, `Ti`, `Pi`, `Ei`) or a decimal
///   exponent (`e3`, `E-3`, `e+3`).
///
/// Surrounding whitespace is ignored. As in Kubernetes, a missing number
/// reads as zero (`"Mi"` is 0), and there is no limit on the number of
/// digits.
pub fn parse_quantity(input: &str) -> Result<ParsedQuantity, QuantityError> {
    let invalid = |reason| QuantityError::Invalid {
        input: input.to_owned(),
        reason,
    };
    let text = input.trim();
    if text.is_empty() {
        return Err(invalid("empty quantity"));
    }
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let int_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (int_part, rest) = rest.split_at(int_end);
    let (frac_part, suffix) = match rest.strip_prefix('.') {
        Some(after) => {
            let frac_end = after
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after.len());
            after.split_at(frac_end)
        }
        None => ("", rest),
    };
    let (suffix_exp10, exp2): (i64, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        _ => {
            let exponent = suffix
                .strip_prefix(['e', 'E'])
                .ok_or_else(|| invalid("unknown suffix"))?;
            let unsigned = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid("unknown suffix"));
            }
            let value = exponent
                .parse::<i64>()
                .map_err(|_| invalid("exponent out of range"))?;
            (value, 0)
        }
    };

    let mut digits: Vec<u8> = int_part
        .bytes()
        .chain(frac_part.bytes())
        .map(|b| b - b'0')
        .skip_while(|&d| d == 0)
        .collect();
    let frac_len = i64::try_from(frac_part.len()).map_err(|_| invalid("too many digits"))?;
    let mut exp10 = suffix_exp10
        .checked_sub(frac_len)
        .ok_or_else(|| invalid("exponent out of range"))?;
    let trailing = digits.iter().rev().take_while(|&&d| d == 0).count();
    digits.truncate(digits.len() - trailing);
    if digits.is_empty() {
        return Ok(ParsedQuantity {
            negative: false,
            digits,
            exp10: 0,
            exp2: 0,
        });
    }
    exp10 = i64::try_from(trailing)
        .ok()
        .and_then(|t| exp10.checked_add(t))
        .ok_or_else(|| invalid("exponent out of range"))?;
    Ok(ParsedQuantity {
        negative,
        digits,
        exp10,
        exp2,
    })
}

/// Converts a parsed quantity to `ceil(value × 10^pow10 × 2^pow2)`.
fn to_units(
    parsed: &ParsedQuantity,
    input: &str,
    pow10: i32,
    pow2: u32,
    unit: &'static str,
) -> Result<u64, QuantityError> {
    if parsed.is_negative() {
        return Err(QuantityError::Negative {
            input: input.to_owned(),
        });
    }
    parsed
        .scaled(pow10, pow2)
        .map(|(units, _)| units)
        .ok_or_else(|| QuantityError::TooLarge {
            input: input.to_owned(),
            unit,
        })
}

/// Milli-CPUs in a CPU quantity (`"31500m"`, `"32"`, `"0.5"`), rounding up
/// as Kubernetes does (`"0.0001"` → 1).
pub fn cpu_millis_from_quantity(quantity: &Quantity) -> Result<u64, QuantityError> {
    let parsed = parse_quantity(&quantity.0)?;
    to_units(&parsed, &quantity.0, 3, 0, "cpu")
}

/// Bytes in a byte quantity (`"256Gi"`, `"1Ti"`, `"1e9"`), rounding up to
/// whole bytes.
pub fn bytes_from_quantity(quantity: &Quantity) -> Result<u64, QuantityError> {
    let parsed = parse_quantity(&quantity.0)?;
    to_units(&parsed, &quantity.0, 0, 0, "bytes")
}

/// A count quantity (`"110"` pods) rounded up to a whole number, as
/// Kubernetes' `Quantity.Value()` does.
pub fn value_from_quantity(quantity: &Quantity) -> Result<u64, QuantityError> {
    let parsed = parse_quantity(&quantity.0)?;
    to_units(&parsed, &quantity.0, 0, 0, "a count")
}

/// A quantity that must be a whole number (extended resources such as GPUs).
fn whole_from_quantity(quantity: &Quantity) -> Result<u64, QuantityError> {
    let parsed = parse_quantity(&quantity.0)?;
    let input = &quantity.0;
    if parsed.is_negative() {
        return Err(QuantityError::Negative {
            input: input.clone(),
        });
    }
    match parsed.scaled(0, 0) {
        Some((value, true)) => Ok(value),
        Some((_, false)) => Err(QuantityError::NotInteger {
            input: input.clone(),
        }),
        None => Err(QuantityError::TooLarge {
            input: input.clone(),
            unit: "a count",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn q(s: &str) -> Quantity {
        Quantity(s.to_owned())
    }

    fn millis(s: &str) -> Result<u64, QuantityError> {
        cpu_millis_from_quantity(&q(s))
    }

    fn bytes(s: &str) -> Result<u64, QuantityError> {
        bytes_from_quantity(&q(s))
    }

    fn ports(ranges: &[(u16, u16)]) -> PortRanges {
        ranges
            .iter()
            .map(|&(begin, end)| PortRange { begin, end })
            .collect()
    }

    fn cpus_json(json: &str) -> Result<Cpus, serde_json::Error> {
        serde_json::from_str(json)
    }

    fn mem_json(json: &str) -> Result<Mebibytes, serde_json::Error> {
        serde_json::from_str(json)
    }

    // ----- quantity parsing -----

    #[test]
    fn parses_plain_integers_and_decimals() {
        assert_eq!(millis("2"), Ok(2000));
        assert_eq!(millis("32"), Ok(32_000));
        assert_eq!(millis("0.5"), Ok(500));
        assert_eq!(millis("1.25"), Ok(1250));
        assert_eq!(millis(".5"), Ok(500));
        assert_eq!(millis("5."), Ok(5000));
        assert_eq!(millis("+1.5"), Ok(1500));
        assert_eq!(millis("0"), Ok(0));
        assert_eq!(millis("000"), Ok(0));
        assert_eq!(millis("007"), Ok(7000));
        assert_eq!(millis("  3  "), Ok(3000));
        assert_eq!(bytes("110"), Ok(110));
    }

    #[test]
    fn parses_decimal_si_suffixes() {
        assert_eq!(millis("500m"), Ok(500));
        assert_eq!(millis("31500m"), Ok(31_500));
        assert_eq!(millis("1000000u"), Ok(1000));
        assert_eq!(millis("1000000000n"), Ok(1000));
        assert_eq!(millis("1n"), Ok(1));
        assert_eq!(millis("1u"), Ok(1));
        assert_eq!(bytes("1k"), Ok(1000));
        assert_eq!(bytes("1M"), Ok(1_000_000));
        assert_eq!(bytes("1G"), Ok(1_000_000_000));
        assert_eq!(bytes("1T"), Ok(1_000_000_000_000));
        assert_eq!(bytes("1P"), Ok(1_000_000_000_000_000));
        assert_eq!(bytes("1E"), Ok(1_000_000_000_000_000_000));
        assert_eq!(bytes("1.5k"), Ok(1500));
        assert_eq!(bytes("1500m"), Ok(2));
        assert_eq!(bytes("1.G"), Ok(1_000_000_000));
    }

    #[test]
    fn parses_binary_si_suffixes() {
        assert_eq!(bytes("1Ki"), Ok(1024));
        assert_eq!(bytes("256Mi"), Ok(256 << 20));
        assert_eq!(bytes("256Gi"), Ok(256 << 30));
        assert_eq!(bytes("1Ti"), Ok(1 << 40));
        assert_eq!(bytes("1Pi"), Ok(1 << 50));
        assert_eq!(bytes("1Ei"), Ok(1 << 60));
        assert_eq!(bytes("15Ei"), Ok(15 << 60));
        assert_eq!(bytes("1.5Gi"), Ok(1536 << 20));
        assert_eq!(bytes("0.5Ki"), Ok(512));
        assert_eq!(bytes("0.001Ki"), Ok(2)); // 1.024 bytes rounds up
        assert_eq!(millis("1Ki"), Ok(1_024_000));
    }

    #[test]
    fn parses_decimal_exponents() {
        assert_eq!(bytes("1e3"), Ok(1000));
        assert_eq!(bytes("1E3"), Ok(1000));
        assert_eq!(bytes("1e+3"), Ok(1000));
        assert_eq!(bytes("1.5e3"), Ok(1500));
        assert_eq!(bytes("1e9"), Ok(1_000_000_000));
        assert_eq!(millis("5e-3"), Ok(5));
        assert_eq!(millis("5E-3"), Ok(5));
        assert_eq!(millis("1e0"), Ok(1000));
        assert_eq!(millis("0e999999999999"), Ok(0));
        assert_eq!(millis("1e-999999999999"), Ok(1));
    }

    #[test]
    fn rounds_up_like_kubernetes() {
        assert_eq!(millis("0.0001"), Ok(1));
        assert_eq!(millis("0.1m"), Ok(1));
        assert_eq!(millis("1001u"), Ok(2));
        assert_eq!(millis("1.0001"), Ok(1001));
        assert_eq!(bytes("0.1"), Ok(1));
        assert_eq!(bytes("1.000000000000000000000000000000000001"), Ok(2));
        assert_eq!(
            bytes("1.0000000000000000000000000000000000000000000000000001Ei"),
            Ok((1 << 60) + 1)
        );
        // 2^60 * 9.999e-19 = 1.15..., so the true value is 2^60 + 1.15... → +2.
        assert_eq!(bytes("1.0000000000000000009999Ei"), Ok((1 << 60) + 2));
    }

    #[test]
    fn quirky_forms_the_api_server_accepts() {
        assert_eq!(bytes("Mi"), Ok(0));
        assert_eq!(bytes("."), Ok(0));
        assert_eq!(bytes("-"), Ok(0));
        assert_eq!(bytes("-0"), Ok(0));
        assert_eq!(bytes("-0.0Gi"), Ok(0));
    }

    #[test]
    fn rejects_malformed_quantities() {
        for bad in [
            "",
            "   ",
            "abc",
            "1K",
            "1ki",
            "1mi",
            "1e",
            "1e+",
            "1e-",
            "1e1.5",
            "1.2.3",
            "1 Gi",
            "1Gib",
            "--1",
            "+-1",
            "1e++3",
            "1e3m",
            "0x10",
            "1_000",
            "∞",
            "1ee3",
            "1e99999999999999999999",
        ] {
            match parse_quantity(bad) {
                Err(QuantityError::Invalid { input, .. }) => assert_eq!(input, bad),
                other => panic!("{bad:?} parsed as {other:?}"),
            }
        }
    }

    #[test]
    fn rejects_negative_and_too_large() {
        assert!(matches!(millis("-1"), Err(QuantityError::Negative { .. })));
        assert!(matches!(bytes("-1Mi"), Err(QuantityError::Negative { .. })));
        assert!(matches!(bytes("16Ei"), Err(QuantityError::TooLarge { .. })));
        assert!(matches!(bytes("1e20"), Err(QuantityError::TooLarge { .. })));
        assert!(matches!(
            millis("1e9999999999"),
            Err(QuantityError::TooLarge { .. })
        ));
        assert_eq!(bytes("18446744073709551615"), Ok(u64::MAX));
        assert!(matches!(
            bytes("18446744073709551616"),
            Err(QuantityError::TooLarge { .. })
        ));
        assert!(matches!(
            bytes("18446744073709551615.1"),
            Err(QuantityError::TooLarge { .. })
        ));
        assert_eq!(millis("18446744073709551615m"), Ok(u64::MAX));
    }

    #[test]
    fn error_messages_name_the_input() {
        let err = bytes("12 parsecs").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid quantity \"12 parsecs\": unknown suffix"
        );
        assert_eq!(
            millis("-2").unwrap_err().to_string(),
            "quantity \"-2\" is negative"
        );
        assert_eq!(
            bytes("1e30").unwrap_err().to_string(),
            "quantity \"1e30\" is too large for bytes"
        );
    }

    #[test]
    fn parsed_quantity_parts() {
        let p = parse_quantity("-1.500Gi").unwrap();
        assert!(p.is_negative());
        assert_eq!(p.mantissa(), Some(-15));
        assert_eq!(p.exp10(), -1);
        assert_eq!(p.exp2(), 30);
        let p = parse_quantity("1200k").unwrap();
        assert_eq!((p.mantissa(), p.exp10(), p.exp2()), (Some(12), 5, 0));
        assert_eq!(p.ceil_scaled(0), Some(1_200_000));
        let zero = parse_quantity("-0.000").unwrap();
        assert!(zero.is_zero() && !zero.is_negative());
        assert_eq!(parse_quantity("1").unwrap().ceil_scaled(-1), Some(1));
        assert_eq!(parse_quantity("-1").unwrap().ceil_scaled(0), None);
        let long = parse_quantity(&"9".repeat(50)).unwrap();
        assert_eq!(long.mantissa(), None);
        assert_eq!(long.ceil_scaled(0), None);
    }

    #[test]
    fn node_allocatable_values_parse() {
        assert_eq!(millis("32"), Ok(32_000));
        assert_eq!(millis("31500m"), Ok(31_500));
        assert_eq!(bytes("256Gi"), Ok(256 << 30));
        assert_eq!(bytes("1Ti"), Ok(1 << 40));
        assert_eq!(bytes("263932732Ki"), Ok(263_932_732 * 1024));
        assert_eq!(value_from_quantity(&q("110")), Ok(110));
        assert_eq!(value_from_quantity(&q("1.5")), Ok(2));
    }

    // ----- k8s maps -----

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
        entries.iter().map(|&(k, v)| (k.to_owned(), q(v))).collect()
    }

    #[test]
    fn to_k8s_requests_formats() {
        let r = Resources {
            cpus: Cpus(1500),
            mem: Mebibytes(256 << 20),
            disk: Mebibytes(3 << 30),
            gpus: 2,
            ports: ports(&[(31000, 31005)]),
        };
        assert_eq!(
            r.to_k8s_requests(),
            map(&[
                ("cpu", "1500m"),
                ("memory", "256Mi"),
                ("ephemeral-storage", "3Gi"),
                ("nvidia.com/gpu", "2"),
            ])
        );
        let r = Resources {
            cpus: Cpus(2000),
            mem: Mebibytes(1536 << 20),
            disk: Mebibytes(1000),
            ..Resources::default()
        };
        assert_eq!(
            r.to_k8s_requests(),
            map(&[
                ("cpu", "2"),
                ("memory", "1536Mi"),
                ("ephemeral-storage", "1000"),
            ])
        );
        assert_eq!(Mebibytes(1 << 40).to_quantity(), q("1Ti"));
        assert_eq!(Mebibytes(1 << 61).to_quantity(), q("2Ei"));
        assert_eq!(Mebibytes(2048).to_quantity(), q("2Ki"));
        assert_eq!(Mebibytes(0).to_quantity(), q("0"));
        assert_eq!(Cpus(0).to_quantity(), q("0"));
        assert!(Resources::default().to_k8s_requests().is_empty());
    }

    #[test]
    fn from_k8s_reads_known_keys() {
        let r = Resources::from_k8s(&map(&[
            ("cpu", "31500m"),
            ("memory", "256Gi"),
            ("ephemeral-storage", "1Ti"),
            ("nvidia.com/gpu", "4"),
            ("pods", "110"),
            ("hugepages-2Mi", "0"),
        ]))
        .unwrap();
        assert_eq!(
            r,
            Resources {
                cpus: Cpus(31_500),
                mem: Mebibytes(256 << 30),
                disk: Mebibytes(1 << 40),
                gpus: 4,
                ports: PortRanges::empty(),
            }
        );
        assert_eq!(
            Resources::from_k8s(&BTreeMap::new()),
            Ok(Resources::default())
        );
    }

    #[test]
    fn from_k8s_errors_name_the_resource() {
        let err = Resources::from_k8s(&map(&[("memory", "lots")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "memory: invalid quantity \"lots\": unknown suffix"
        );
        let err = Resources::from_k8s(&map(&[("nvidia.com/gpu", "0.5")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "nvidia.com/gpu: quantity \"0.5\" is not a whole number"
        );
        let err = Resources::from_k8s(&map(&[("cpu", "-1")])).unwrap_err();
        assert_eq!(err.to_string(), "cpu: quantity \"-1\" is negative");
        assert_eq!(
            Resources::from_k8s(&map(&[("nvidia.com/gpu", "2000m")])).map(|r| r.gpus),
            Ok(2)
        );
    }

    // ----- serde -----

    #[test]
    fn cpus_deserialize_exactly() {
        assert_eq!(cpus_json("0.1").unwrap(), Cpus(100));
        assert_eq!(cpus_json("0.3").unwrap(), Cpus(300));
        assert_eq!(cpus_json("2.675").unwrap(), Cpus(2675));
        assert_eq!(cpus_json("1.5").unwrap(), Cpus(1500));
        assert_eq!(cpus_json("1.005").unwrap(), Cpus(1005));
        assert_eq!(cpus_json("4.35").unwrap(), Cpus(4350));
        assert_eq!(cpus_json("2").unwrap(), Cpus(2000));
        assert_eq!(cpus_json("2.0").unwrap(), Cpus(2000));
        assert_eq!(cpus_json("0").unwrap(), Cpus(0));
        assert_eq!(cpus_json("-0.0").unwrap(), Cpus(0));
        assert_eq!(cpus_json("1e-3").unwrap(), Cpus(1));
        assert_eq!(cpus_json("1.5e2").unwrap(), Cpus(150_000));
        assert_eq!(cpus_json("0.0001").unwrap(), Cpus(1));
        assert_eq!(cpus_json("0.0011").unwrap(), Cpus(2));
        assert_eq!(cpus_json("1e-300").unwrap(), Cpus(1));
        assert_eq!(cpus_json("1000000000000").unwrap(), Cpus::MAX);
        assert_eq!(
            cpus_json("999999999999.999").unwrap(),
            Cpus(Cpus::MAX.0 - 1)
        );
        assert_eq!(cpus_json("\"500m\"").unwrap(), Cpus(500));
        assert_eq!(cpus_json("\"2\"").unwrap(), Cpus(2000));
        assert_eq!(cpus_json("\"0.25\"").unwrap(), Cpus(250));
    }

    #[test]
    fn cpus_reject_bad_values() {
        for (json, needle) in [
            ("-1", "must not be negative"),
            ("-0.5", "must not be negative"),
            ("1e300", "exceeds the maximum"),
            ("1000000000000.001", "exceeds the maximum"),
            ("1000000000001", "exceeds the maximum"),
            ("18446744073709551615", "exceeds the maximum"),
            ("\"-1\"", "negative"),
            ("\"abc\"", "invalid quantity \"abc\""),
            ("\"1e15\"", "exceeds the maximum"),
            ("true", "a non-negative number of CPUs"),
            ("null", "a non-negative number of CPUs"),
        ] {
            let err = cpus_json(json).unwrap_err().to_string();
            assert!(err.contains(needle), "{json}: {err}");
        }
        let from_value = |v: f64| Cpus::deserialize(serde_json::Value::from(v));
        // serde_json maps non-finite floats to null; exercise the visitor directly.
        assert!(from_value(f64::NAN).is_err());
        let err = CpusVisitor
            .visit_f64::<serde::de::value::Error>(f64::NAN)
            .unwrap_err();
        assert!(err.to_string().contains("must be a finite number"), "{err}");
        let err = CpusVisitor
            .visit_f64::<serde::de::value::Error>(f64::INFINITY)
            .unwrap_err();
        assert!(err.to_string().contains("must be a finite number"), "{err}");
        let err = MebibytesVisitor
            .visit_f64::<serde::de::value::Error>(f64::NEG_INFINITY)
            .unwrap_err();
        assert!(err.to_string().contains("must be a finite number"), "{err}");
    }

    #[test]
    fn cpus_serialize_as_numbers() {
        let json = |c: Cpus| serde_json::to_string(&c).unwrap();
        assert_eq!(json(Cpus(1500)), "1.5");
        assert_eq!(json(Cpus(100)), "0.1");
        assert_eq!(json(Cpus(2000)), "2");
        assert_eq!(json(Cpus(1)), "0.001");
        assert_eq!(json(Cpus(2675)), "2.675");
        assert_eq!(json(Cpus(Cpus::MAX.0 - 1)), "999999999999.999");
        assert_eq!(
            json(Cpus(u64::MAX / 1000 * 1000)),
            (u64::MAX / 1000).to_string()
        );
    }

    #[test]
    fn point_one_plus_point_two_is_point_three() {
        let a = cpus_json("0.1").unwrap();
        let b = cpus_json("0.2").unwrap();
        let sum = a.checked_add(b).unwrap();
        assert_eq!(sum, cpus_json("0.3").unwrap());
        assert_eq!(serde_json::to_string(&sum).unwrap(), "0.3");
        let ra: Resources = serde_json::from_str(r#"{"cpus":0.1,"mem":0.1}"#).unwrap();
        let rb: Resources = serde_json::from_str(r#"{"cpus":0.2,"mem":0.2}"#).unwrap();
        let total = (ra + rb).unwrap();
        assert_eq!(total.cpus, Cpus(300));
        assert_eq!(serde_json::to_string(&total.cpus).unwrap(), "0.3");
    }

    #[test]
    fn mebibytes_deserialize() {
        assert_eq!(mem_json("256").unwrap(), Mebibytes(256 << 20));
        assert_eq!(mem_json("0.5").unwrap(), Mebibytes(524_288));
        assert_eq!(mem_json("0.25").unwrap(), Mebibytes(262_144));
        assert_eq!(mem_json("1.5").unwrap(), Mebibytes(1536 << 10));
        assert_eq!(mem_json("0.1").unwrap(), Mebibytes(104_858)); // 104857.6 rounds up
        assert_eq!(mem_json("0.00000095367431640625").unwrap(), Mebibytes(1));
        assert_eq!(mem_json("0.000001").unwrap(), Mebibytes(2)); // 1.048576 bytes
        assert_eq!(mem_json("1e-30").unwrap(), Mebibytes(1));
        assert_eq!(
            mem_json("17592186044415").unwrap(),
            Mebibytes(17_592_186_044_415 << 20)
        );
        assert_eq!(mem_json("\"256Mi\"").unwrap(), Mebibytes(256 << 20));
        assert_eq!(mem_json("\"1Gi\"").unwrap(), Mebibytes(1 << 30));
        assert_eq!(mem_json("\"1000\"").unwrap(), Mebibytes(1000));
        for (json, needle) in [
            ("-1", "must not be negative"),
            ("-0.5", "must not be negative"),
            ("17592186044416", "too large"),
            ("1e300", "too large"),
            ("\"-1Mi\"", "negative"),
            ("\"1 MB\"", "unknown suffix"),
            ("\"1e30\"", "too large"),
            ("[]", "a non-negative number of MiB"),
        ] {
            let err = mem_json(json).unwrap_err().to_string();
            assert!(err.contains(needle), "{json}: {err}");
        }
    }

    #[test]
    fn mebibytes_serialize_as_mib() {
        let json = |m: Mebibytes| serde_json::to_string(&m).unwrap();
        assert_eq!(json(Mebibytes(256 << 20)), "256");
        assert_eq!(json(Mebibytes(524_288)), "0.5");
        assert_eq!(json(Mebibytes(104_858)), "0.1");
        assert_eq!(json(Mebibytes(1)), "9e-7");
        assert_eq!(json(Mebibytes(!(MIB - 1))), "17592186044415");
        for b in [
            1,
            2,
            3,
            104_857,
            104_858,
            MIB - 1,
            MIB + 1,
            (1 << 40) + 12345,
        ] {
            let m = Mebibytes(b);
            assert_eq!(mem_json(&json(m)).unwrap(), m, "{b} bytes");
        }
    }

    #[test]
    fn resources_json_shape() {
        let r = Resources {
            cpus: Cpus(1500),
            mem: Mebibytes(256 << 20),
            disk: Mebibytes::ZERO,
            gpus: 1,
            ports: ports(&[(32000, 32000), (31000, 31005)]),
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"cpus":1.5,"mem":256,"gpus":1,"ports":[{"begin":31000,"end":31005},{"begin":32000,"end":32000}]}"#
        );
        assert_eq!(serde_json::from_str::<Resources>(&json).unwrap(), r);
        assert_eq!(serde_json::to_string(&Resources::default()).unwrap(), "{}");
        assert_eq!(
            serde_json::from_str::<Resources>("{}").unwrap(),
            Resources::default()
        );
        let r: Resources = serde_json::from_str(
            r#"{"ports":[{"begin":5,"end":10},{"begin":1,"end":4},{"begin":8,"end":12}]}"#,
        )
        .unwrap();
        assert_eq!(r.ports.ranges(), &[PortRange { begin: 1, end: 12 }]);
    }

    #[test]
    fn port_range_deserialization_validates() {
        let err = serde_json::from_str::<PortRange>(r#"{"begin":10,"end":5}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid port range 10-5"), "{err}");
        let err = serde_json::from_str::<PortRanges>(r#"[{"begin":0,"end":5}]"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("port 0"), "{err}");
        assert!(serde_json::from_str::<PortRange>(r#"{"begin":1,"end":65536}"#).is_err());
        assert!(serde_json::from_str::<PortRange>(r#"{"begin":1}"#).is_err());
        assert_eq!(
            serde_json::from_str::<PortRange>(r#"{"begin":80,"end":80}"#).unwrap(),
            PortRange::single(80).unwrap()
        );
    }

    #[test]
    fn schemas() {
        let schema = serde_json::to_value(schemars::schema_for!(Resources)).unwrap();
        let props = &schema["properties"];
        for field in ["cpus", "mem", "disk"] {
            assert_eq!(props[field]["type"], "number", "{field}");
            assert_eq!(props[field]["minimum"], 0, "{field}");
            assert!(
                props[field]["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty())
            );
        }
        assert_eq!(props["gpus"]["type"], "integer");
        assert!(props["gpus"]["description"].as_str().is_some());
        assert_eq!(props["ports"]["type"], "array");
        assert!(props["ports"]["description"].as_str().is_some());
        let item = &props["ports"]["items"];
        assert_eq!(item["properties"]["begin"]["minimum"], 1);
        assert_eq!(item["properties"]["end"]["maximum"], 65535);
        assert!(schema.get("required").is_none());
        assert!(!schema.to_string().contains("$ref"), "{schema}");
        let cpus = serde_json::to_value(schemars::schema_for!(Cpus)).unwrap();
        assert_eq!(cpus["type"], "number");
        assert_eq!(cpus["minimum"], 0);
        // The documented maxima, and they read back exactly.
        assert_eq!(props["cpus"]["maximum"], 1_000_000_000u64);
        assert_eq!(props["mem"]["maximum"], 1u64 << 36);
        assert_eq!(props["gpus"]["maximum"], 1_000_000_000u64);
        assert_eq!(props["ports"]["maxItems"], 32_768);
        assert_eq!(
            item["x-kubernetes-validations"][0]["rule"],
            "self.begin <= self.end"
        );
        let max: Resources = serde_json::from_value(serde_json::json!({
            "cpus": 1_000_000_000u64, "mem": 1u64 << 36, "disk": 1u64 << 36, "gpus": 1_000_000_000u64
        }))
        .unwrap();
        assert_eq!(max.cpus, Resources::MAX_CPUS);
        assert_eq!(max.mem, Resources::MAX_BYTES);
        assert_eq!(max.gpus, Resources::MAX_GPUS);
        let wire = serde_json::to_value(&max).unwrap();
        assert_eq!(serde_json::from_value::<Resources>(wire).unwrap(), max);
        // 255 maximal bags add up exactly.
        let sum: Option<Resources> = std::iter::repeat_n(&max, 255).sum();
        assert!(sum.is_some());
    }

    #[test]
    fn saturating_add_stops_at_the_documented_maximum_never_below_an_addend() {
        let max = Resources {
            cpus: Resources::MAX_CPUS,
            mem: Resources::MAX_BYTES,
            disk: Resources::MAX_BYTES,
            gpus: Resources::MAX_GPUS,
            ports: ports(&[(31000, 31001)]),
        };
        let one = res(1000, 1, 1, &[(31005, 31005)]);
        let sum = max.saturating_add(&one);
        assert_eq!(sum.cpus, Resources::MAX_CPUS);
        assert_eq!(sum.mem, Resources::MAX_BYTES);
        assert_eq!(sum.gpus, Resources::MAX_GPUS);
        assert_eq!(sum.ports, ports(&[(31000, 31001), (31005, 31005)]));
        // Below the maxima it is the exact sum.
        assert_eq!(Some(one.saturating_add(&one)), one.checked_add(&one));
        // An addend beyond the maximum (a Node's capacity is not schema-bounded) is kept.
        let huge = Resources {
            mem: Mebibytes(u64::MAX - 5),
            ..Resources::default()
        };
        assert_eq!(huge.saturating_add(&huge).mem, huge.mem);
        assert!(huge.saturating_add(&one).mem >= huge.mem);
    }

    // ----- display -----

    #[test]
    fn display_cpus_and_mebibytes() {
        assert_eq!(Cpus(1500).to_string(), "1.5");
        assert_eq!(Cpus(100).to_string(), "0.1");
        assert_eq!(Cpus(1).to_string(), "0.001");
        assert_eq!(Cpus(2000).to_string(), "2");
        assert_eq!(Cpus(0).to_string(), "0");
        assert_eq!(Cpus(31_500).to_string(), "31.5");
        assert_eq!(Cpus(1010).to_string(), "1.01");
        assert_eq!(format!("{:>5}", Cpus(1500)), "  1.5");
        assert_eq!(Mebibytes(256 << 20).to_string(), "256");
        assert_eq!(Mebibytes(524_288).to_string(), "0.5");
        assert_eq!(Mebibytes(0).to_string(), "0");
        assert_eq!(Mebibytes(1).to_string(), "0.000001");
        assert_eq!(Mebibytes(MIB - 1).to_string(), "0.999999");
        assert_eq!(Mebibytes(MIB + 1).to_string(), "1.000001");
        assert_eq!(Mebibytes(104_858).to_string(), "0.1");
        assert_eq!(Mebibytes((1 << 20) + (1 << 18)).to_string(), "1.25");
        assert_eq!(Mebibytes(u64::MAX).to_string(), "17592186044415.999999");
    }

    #[test]
    fn display_resources_mesos_style() {
        let r = Resources {
            cpus: Cpus(1500),
            mem: Mebibytes(256 << 20),
            disk: Mebibytes(1024 << 20),
            gpus: 1,
            ports: ports(&[(31000, 31005), (32000, 32000)]),
        };
        assert_eq!(
            r.to_string(),
            "cpus:1.5;mem:256;disk:1024;gpus:1;ports:[31000-31005,32000-32000]"
        );
        assert_eq!(Resources::default().to_string(), "{}");
        let r = Resources {
            mem: Mebibytes(512 << 20),
            ..Resources::default()
        };
        assert_eq!(r.to_string(), "mem:512");
        let r = Resources {
            ports: ports(&[(80, 80)]),
            ..Resources::default()
        };
        assert_eq!(r.to_string(), "ports:[80-80]");
    }

    #[test]
    fn cpus_from_str() {
        assert_eq!("1.5".parse::<Cpus>(), Ok(Cpus(1500)));
        assert_eq!("500m".parse::<Cpus>(), Ok(Cpus(500)));
        assert!("x".parse::<Cpus>().is_err());
        assert!("-1".parse::<Cpus>().is_err());
    }

    // ----- arithmetic -----

    fn res(cpus: u64, mem_mib: u64, gpus: u64, p: &[(u16, u16)]) -> Resources {
        Resources {
            cpus: Cpus(cpus),
            mem: Mebibytes(mem_mib << 20),
            disk: Mebibytes::ZERO,
            gpus,
            ports: ports(p),
        }
    }

    #[test]
    fn arithmetic_basics() {
        let a = res(2000, 1024, 1, &[(31000, 31010)]);
        let b = res(500, 256, 0, &[(31000, 31001)]);
        let diff = a.checked_sub(&b).unwrap();
        assert_eq!(diff, res(1500, 768, 1, &[(31002, 31010)]));
        assert_eq!(diff.checked_add(&b).unwrap(), a);
        assert!(a.contains(&b) && !b.contains(&a));
        assert_eq!(b.checked_sub(&a), None);
        assert_eq!(b.saturating_sub(&a), res(0, 0, 0, &[]));
        // Enough of every scalar but a missing port.
        let c = res(1, 1, 0, &[(40000, 40000)]);
        assert!(!a.contains(&c));
        assert_eq!(a.checked_sub(&c), None);
        assert_eq!(a.saturating_sub(&c), res(1999, 1023, 1, &[(31000, 31010)]));
        let huge = Resources {
            cpus: Cpus(u64::MAX),
            ..Resources::default()
        };
        assert_eq!(huge.checked_add(&res(1, 0, 0, &[])), None);
        assert_eq!(huge.clone() + res(1, 0, 0, &[]), None);
        assert_eq!(&a + &b, a.checked_add(&b));
        assert!(Resources::default().is_empty());
        assert!(!res(0, 0, 0, &[(1, 1)]).is_empty());
    }

    #[test]
    fn sums() {
        let items = [
            res(100, 1, 0, &[]),
            res(200, 2, 1, &[(5, 6)]),
            res(0, 0, 0, &[(7, 7)]),
        ];
        let total: Option<Resources> = items.iter().sum();
        assert_eq!(total, Some(res(300, 3, 1, &[(5, 7)])));
        let owned: Option<Resources> = items.into_iter().sum();
        assert_eq!(owned, Some(res(300, 3, 1, &[(5, 7)])));
        let empty: Option<Resources> = std::iter::empty::<Resources>().sum();
        assert_eq!(empty, Some(Resources::default()));
        let overflow: Option<Resources> =
            [res(u64::MAX, 0, 0, &[]), res(1, 0, 0, &[])].iter().sum();
        assert_eq!(overflow, None);
    }

    #[test]
    fn fits_in_reports_shortfalls() {
        let need = res(64_000, 1024, 1, &[(31000, 31001)]);
        let have = res(31_500, 2048, 0, &[(31001, 31005)]);
        let shortfall = need.fits_in(&have).unwrap_err();
        assert_eq!(
            shortfall.to_string(),
            "cpus: need 64, have 31.5; gpus: need 1, have 0; ports: need [31000-31001], have [31001-31005]"
        );
        assert_eq!(
            format!(
                "no node has {} free; largest free: {}",
                shortfall.needed(),
                shortfall.available()
            ),
            "no node has 64 cpus free; largest free: 31.5 cpus"
        );
        assert_eq!(shortfall.dimensions()[2].needed(), "ports [31000-31001]");
        assert_eq!(shortfall.dimensions()[2].available(), "ports [31001-31005]");
        assert_eq!(
            shortfall.dimensions()[2].missing_ports(),
            Some(ports(&[(31000, 31000)]))
        );
        assert_eq!(shortfall.dimensions()[1].available(), "0 gpus");
        assert_eq!(
            shortfall.first().map(ToString::to_string).as_deref(),
            Some("cpus: need 64, have 31.5")
        );
        assert_eq!(shortfall.dimensions().len(), 3);
        assert_eq!(shortfall.dimensions()[1].name(), "gpus");
        let mem = res(0, 512, 0, &[])
            .fits_in(&res(0, 256, 0, &[]))
            .unwrap_err();
        assert_eq!(mem.to_string(), "mem: need 512, have 256");
        assert_eq!(
            (mem.needed(), mem.available()),
            ("512 MiB mem".to_owned(), "256 MiB mem".to_owned())
        );
        let disk = Resources {
            disk: Mebibytes(MIB / 2),
            ..Resources::default()
        };
        assert_eq!(
            disk.fits_in(&Resources::default()).unwrap_err().to_string(),
            "disk: need 0.5, have 0"
        );
        assert_eq!(have.fits_in(&have), Ok(()));
        assert_eq!(Resources::default().fits_in(&Resources::default()), Ok(()));
    }

    #[test]
    fn max_each_is_the_join() {
        let a = res(2000, 10, 0, &[(1, 5)]);
        let b = res(1000, 20, 3, &[(4, 9)]);
        let m = a.max_each(&b);
        assert_eq!(m, res(2000, 20, 3, &[(1, 9)]));
        assert!(m.contains(&a) && m.contains(&b));
    }

    #[test]
    fn dominant_share_ignores_zero_totals() {
        let total = res(10_000, 1000, 0, &[]);
        let used = res(2_500, 500, 3, &[]);
        assert_eq!(used.dominant_share(&total), 0.5);
        assert_eq!(res(5_000, 0, 0, &[]).dominant_share(&total), 0.5);
        assert_eq!(used.dominant_share(&Resources::default()), 0.0);
        assert_eq!(Resources::default().dominant_share(&total), 0.0);
    }

    // ----- ports -----

    #[test]
    fn port_ranges_operations() {
        let a = ports(&[(10, 20), (30, 40)]);
        let b = ports(&[(15, 35)]);
        assert_eq!(a.union(&b), ports(&[(10, 40)]));
        assert_eq!(a.difference(&b), ports(&[(10, 14), (36, 40)]));
        assert_eq!(a.intersection(&b), ports(&[(15, 20), (30, 35)]));
        assert_eq!(a.len(), 22);
        assert!(a.contains(&ports(&[(12, 13), (40, 40)])));
        assert!(!a.contains(&ports(&[(20, 30)])));
        assert!(a.contains(&PortRanges::empty()));
        assert!(a.contains_port(10) && a.contains_port(40) && !a.contains_port(25));
        assert_eq!(a.take(3), Some(ports(&[(10, 12)])));
        assert_eq!(a.take(12), Some(ports(&[(10, 20), (30, 30)])));
        assert_eq!(a.take(22), Some(a.clone()));
        assert_eq!(a.take(23), None);
        assert_eq!(a.take(0), Some(PortRanges::empty()));
        assert_eq!(a.iter().take(3).collect::<Vec<_>>(), vec![10, 11, 12]);
        assert_eq!(
            ports(&[(1, 2), (3, 4)]).ranges(),
            &[PortRange { begin: 1, end: 4 }]
        );
        assert_eq!(
            ports(&[(65535, 65535), (65534, 65535)]),
            ports(&[(65534, 65535)])
        );
        assert_eq!(ports(&[(0, 0), (9, 3), (0, 2)]), ports(&[(1, 2)]));
        let all = ports(&[(1, 65535)]);
        assert_eq!(all.len(), 65535);
        assert!(all.difference(&all).is_empty());
        assert_eq!(
            all.difference(&ports(&[(1, 1), (65535, 65535)])),
            ports(&[(2, 65534)])
        );
        assert_eq!(
            [80u16, 81, 443]
                .into_iter()
                .collect::<PortRanges>()
                .to_string(),
            "[80-81,443-443]"
        );
        assert_eq!(PortRanges::from(PortRange::single(8080).unwrap()).len(), 1);
        assert!(PortRange::new(0, 1).is_err());
        assert!(PortRange::new(2, 1).is_err());
        assert_eq!(PortRange::new(1, 2).map(|r| r.len()), Ok(2));
    }

    // ----- property tests -----

    prop_compose! {
        fn arb_range()(begin in prop_oneof![1u16..200, 65400u16..=65535, 1u16..=65535],
                       len in prop_oneof![0u16..4, 0u16..50]) -> PortRange {
            PortRange { begin, end: begin.saturating_add(len) }
        }
    }

    fn arb_ports() -> impl Strategy<Value = PortRanges> {
        prop::collection::vec(arb_range(), 0..6).prop_map(PortRanges::new)
    }

    fn arb_resources(max: u64) -> impl Strategy<Value = Resources> {
        (0..=max, 0..=max, 0..=max, 0..=max, arb_ports()).prop_map(|(c, m, d, g, p)| Resources {
            cpus: Cpus(c),
            mem: Mebibytes(m),
            disk: Mebibytes(d),
            gpus: g,
            ports: p,
        })
    }

    /// Small values so that comparisons and subtractions are interesting.
    fn small_resources() -> impl Strategy<Value = Resources> {
        arb_resources(8)
    }

    /// Values (mostly) safe from overflow when added a few times.
    fn any_resources() -> impl Strategy<Value = Resources> {
        prop_oneof![arb_resources(8), arb_resources(u64::MAX / 4)]
    }

    fn model(p: &PortRanges) -> BTreeSet<u16> {
        p.iter().collect()
    }

    fn cpus_wire() -> impl Strategy<Value = Cpus> {
        prop_oneof![
            (0..=Cpus::MAX.0).prop_map(Cpus),
            (0..=9_999u64).prop_map(Cpus),
            (0..=Cpus::MAX.0 / 1000).prop_map(|c| Cpus(c * 1000)),
        ]
    }

    fn mem_wire() -> impl Strategy<Value = Mebibytes> {
        prop_oneof![
            (0..(1u64 << 46)).prop_map(Mebibytes),
            (0..(1u64 << 24)).prop_map(Mebibytes),
            (0..(1u64 << 44)).prop_map(|m| Mebibytes(m << 20)),
        ]
    }

    proptest! {
        #[test]
        fn add_then_sub_is_identity(a in any_resources(), b in any_resources()) {
            // Ports combine by union, so make them disjoint for the inverse law.
            let b = Resources { ports: b.ports.difference(&a.ports), ..b };
            if let Some(sum) = a.checked_add(&b) {
                prop_assert!(sum.contains(&a) && sum.contains(&b));
                prop_assert_eq!(sum.checked_sub(&b), Some(a.clone()));
                prop_assert_eq!(sum.checked_sub(&a), Some(b.clone()));
            }
        }

        #[test]
        fn checked_sub_none_iff_not_contains(a in small_resources(), b in small_resources()) {
            let diff = a.checked_sub(&b);
            prop_assert_eq!(diff.is_none(), !a.contains(&b));
            if let Some(diff) = diff {
                prop_assert!(a.contains(&diff));
                prop_assert_eq!(a.saturating_sub(&b), diff.clone());
                prop_assert_eq!(diff.checked_add(&b).map(|s| s.checked_sub(&b)), Some(Some(diff)));
            } else {
                let sat = a.saturating_sub(&b);
                prop_assert!(a.contains(&sat));
            }
        }

        #[test]
        fn add_is_commutative_and_associative(
            a in any_resources(), b in any_resources(), c in any_resources()
        ) {
            prop_assert_eq!(a.checked_add(&b), b.checked_add(&a));
            let left = a.checked_add(&b).and_then(|ab| ab.checked_add(&c));
            let right = b.checked_add(&c).and_then(|bc| a.checked_add(&bc));
            prop_assert_eq!(left, right);
            prop_assert_eq!(a.checked_add(&Resources::default()), Some(a.clone()));
        }

        #[test]
        fn contains_is_a_partial_order(
            a in small_resources(), b in small_resources(), c in small_resources()
        ) {
            prop_assert!(a.contains(&a));
            prop_assert!(a.contains(&Resources::default()));
            if a.contains(&b) && b.contains(&a) {
                prop_assert_eq!(&a, &b);
            }
            if a.contains(&b) && b.contains(&c) {
                prop_assert!(a.contains(&c));
            }
            prop_assert_eq!(b.fits_in(&a).is_ok(), a.contains(&b));
        }

        #[test]
        fn quantity_roundtrip(r in arb_resources(u64::MAX)) {
            let r = Resources { ports: PortRanges::empty(), ..r };
            prop_assert_eq!(Resources::from_k8s(&r.to_k8s_requests()), Ok(r));
        }

        #[test]
        fn json_roundtrip(
            cpus in cpus_wire(), mem in mem_wire(), disk in mem_wire(),
            gpus in any::<u64>(), ports in arb_ports()
        ) {
            let r = Resources { cpus, mem, disk, gpus, ports };
            let json = serde_json::to_string(&r).unwrap();
            prop_assert_eq!(serde_json::from_str::<Resources>(&json).unwrap(), r.clone());
            let value = serde_json::to_value(&r).unwrap();
            prop_assert_eq!(serde_json::from_value::<Resources>(value).unwrap(), r);
        }

        #[test]
        fn json_roundtrip_large_integral(mib in any::<u64>(), cpus in any::<u64>()) {
            let m = Mebibytes(mib & !(MIB - 1));
            let json = serde_json::to_string(&m).unwrap();
            prop_assert_eq!(mem_json(&json).unwrap(), m);
            let c = Cpus((cpus % (Cpus::MAX.0 / 1000 + 1)) * 1000);
            prop_assert_eq!(cpus_json(&serde_json::to_string(&c).unwrap()).unwrap(), c);
        }

        #[test]
        fn cpus_display_reparses(millis in any::<u64>()) {
            let c = Cpus(millis);
            prop_assert_eq!(c.to_string().parse::<Cpus>(), Ok(c));
            prop_assert_eq!(Cpus::from_quantity(&c.to_quantity()), Ok(c));
        }

        #[test]
        fn decimal_json_numbers_map_exactly(whole in 0u64..1_000_000, frac in 0u64..1000, places in 1usize..=3) {
            // A decimal with at most three places maps to the exact milli value.
            let frac = frac % 10u64.pow(u32::try_from(places).unwrap());
            let text = format!("{whole}.{frac:0places$}");
            let expected = whole * 1000 + frac * 10u64.pow(3 - u32::try_from(places).unwrap());
            prop_assert_eq!(cpus_json(&text).unwrap(), Cpus(expected));
            prop_assert_eq!(text.parse::<Cpus>().unwrap(), Cpus(expected));
        }

        #[test]
        fn quantity_parser_matches_integer_model(
            mantissa in 0u64..1_000_000_000, frac_digits in 0u32..12, suffix_idx in 0usize..12
        ) {
            // value = mantissa / 10^frac_digits × multiplier; compare ceil against u128 math.
            const SUFFIXES: [(&str, u128, u128); 12] = [
                ("", 1, 1), ("k", 1000, 1), ("M", 1_000_000, 1), ("G", 1_000_000_000, 1),
                ("m", 1, 1000), ("u", 1, 1_000_000), ("n", 1, 1_000_000_000),
                ("Ki", 1 << 10, 1), ("Mi", 1 << 20, 1), ("Gi", 1 << 30, 1),
                ("e2", 100, 1), ("e-2", 1, 100),
            ];
            let (suffix, mul, div) = SUFFIXES[suffix_idx];
            let scale = 10u128.pow(frac_digits);
            let digits = format!("{mantissa:0width$}", width = frac_digits as usize + 1);
            let (int, frac) = digits.split_at(digits.len() - frac_digits as usize);
            let text = if frac.is_empty() { format!("{int}{suffix}") } else { format!("{int}.{frac}{suffix}") };
            let num = u128::from(mantissa) * mul;
            let den = scale * div;
            let expected_bytes = num.div_ceil(den);
            let expected_millis = (num * 1000).div_ceil(den);
            let fits = |v: u128| u64::try_from(v).ok();
            prop_assert_eq!(bytes(&text).ok(), fits(expected_bytes), "{}", text);
            prop_assert_eq!(millis(&text).ok(), fits(expected_millis), "{}", text);
        }

        #[test]
        fn port_ranges_match_set_model(a in arb_ports(), b in arb_ports(), n in 0usize..80) {
            let (ma, mb) = (model(&a), model(&b));
            // Normalized: sorted, valid, non-overlapping and non-adjacent.
            for r in a.ranges() {
                prop_assert!(1 <= r.begin && r.begin <= r.end);
            }
            for w in a.ranges().windows(2) {
                prop_assert!(u32::from(w[0].end) + 1 < u32::from(w[1].begin));
            }
            // Canonical: rebuilding from single ports yields the same value.
            prop_assert_eq!(ma.iter().copied().collect::<PortRanges>(), a.clone());
            prop_assert_eq!(a.len(), ma.len());
            prop_assert_eq!(a.is_empty(), ma.is_empty());
            prop_assert_eq!(model(&a.union(&b)), ma.union(&mb).copied().collect::<BTreeSet<_>>());
            prop_assert_eq!(model(&a.difference(&b)), ma.difference(&mb).copied().collect::<BTreeSet<_>>());
            prop_assert_eq!(model(&a.intersection(&b)), ma.intersection(&mb).copied().collect::<BTreeSet<_>>());
            prop_assert_eq!(a.contains(&b), ma.is_superset(&mb));
            let taken = a.take(n);
            if n <= ma.len() {
                let expected: BTreeSet<u16> = ma.iter().copied().take(n).collect();
                prop_assert_eq!(taken.as_ref().map(model), Some(expected));
            } else {
                prop_assert_eq!(taken, None);
            }
            for p in [1u16, 5, 100, 199, 250, 65535] {
                prop_assert_eq!(a.contains_port(p), ma.contains(&p));
            }
            let json = serde_json::to_string(&a).unwrap();
            prop_assert_eq!(serde_json::from_str::<PortRanges>(&json).unwrap(), a);
        }
    }
}
