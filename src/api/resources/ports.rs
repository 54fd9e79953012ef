//! Host ports: inclusive ranges and normalised sets of them.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::Deserializer;
use serde::{Deserialize, Serialize, Serializer};

use super::schema_from_json;

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
