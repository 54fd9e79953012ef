//! Exact scalar amounts: one generic [`Scalar`] over a [`Unit`], instantiated as
//! [`Cpus`] (milli-CPUs, CPUs on the wire) and [`Mebibytes`] (bytes, MiB on the wire).
//!
//! What the two share lives here once: the fixed-point storage, exact arithmetic, the
//! wire format (an integer when whole, else the shortest exact decimal), reading JSON
//! numbers and Kubernetes quantity strings with bounds and clear messages, and the JSON
//! schema. What differs (the scale, the bound, display and the Kubernetes quantity
//! written back) is the unit's.

use std::borrow::Cow;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::str::FromStr;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::quantity::{QuantityError, parse_quantity, to_units};
use super::schema_from_json;

/// Bytes in one mebibyte.
pub(super) const MIB: u64 = 1 << 20;
/// Milli-CPUs in one CPU.
pub(super) const MILLIS_PER_CPU: u64 = 1000;

/// What a [`Scalar`] counts: its stored unit, its wire unit and how it reads and writes.
pub trait Unit: Copy + Default + fmt::Debug + Eq + Ord + Hash + 'static {
    /// The type's name, in `Debug` output and the JSON schema.
    const TYPE_NAME: &'static str;
    /// The wire unit, in messages ("cpus", "MiB").
    const WIRE_NAME: &'static str;
    /// Stored units per wire unit: `10^POW10 × 2^POW2`.
    const POW10: i32;
    /// See [`Self::POW10`].
    const POW2: u32;
    /// Stored units per unit of a Kubernetes quantity string, as a power of ten (CPU
    /// quantities count CPUs, byte quantities count bytes).
    const QUANTITY_POW10: i32;
    /// The quantity's unit, in messages.
    const QUANTITY_UNIT: &'static str;
    /// How a bad quantity string is introduced in messages.
    const QUANTITY_ERROR: &'static str;
    /// The largest amount deserialization accepts, in stored units.
    const MAX: u64;
    /// The JSON schema's maximum, in wire units.
    const SCHEMA_MAX: u64;
    /// What deserialization expects, in messages.
    const EXPECTING: &'static str;

    /// Stored units per wire unit.
    fn per_wire_unit() -> u64 {
        10u64.pow(Self::POW10.unsigned_abs()) << Self::POW2
    }

    /// The message for a value above [`Self::MAX`].
    fn too_large(shown: &dyn fmt::Display) -> String;

    /// Writes an amount for people.
    fn display(units: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result;

    /// A fractional amount in wire units, exact enough to read back as `units`.
    fn wire_f64(units: u64) -> f64;

    /// The Kubernetes quantity for an amount.
    fn to_quantity(units: u64) -> Quantity;
}

/// An exact amount of `U`, stored as a whole number of its smallest unit.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scalar<U: Unit>(pub u64, PhantomData<U>);

impl<U: Unit> Scalar<U> {
    /// Nothing.
    pub const ZERO: Self = Self::from_units(0);

    /// An amount from stored units.
    pub const fn from_units(units: u64) -> Self {
        Scalar(units, PhantomData)
    }

    /// The amount in stored units.
    pub const fn units(self) -> u64 {
        self.0
    }

    /// Whether this is zero.
    pub const fn is_zero(&self) -> bool {
        self.0 == 0
    }

    /// Exact addition; `None` on overflow.
    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self::from_units)
    }

    /// Exact subtraction; `None` if the result would be negative.
    pub fn checked_sub(self, other: Self) -> Option<Self> {
        self.0.checked_sub(other.0).map(Self::from_units)
    }

    /// Subtraction clamped at zero.
    pub fn saturating_sub(self, other: Self) -> Self {
        Self::from_units(self.0.saturating_sub(other.0))
    }

    /// The Kubernetes quantity (see each unit for its form).
    pub fn to_quantity(self) -> Quantity {
        U::to_quantity(self.0)
    }

    /// Reads a Kubernetes quantity, rounding up to whole stored units.
    pub fn from_quantity(quantity: &Quantity) -> Result<Self, QuantityError> {
        quantity.0.parse()
    }

    fn bounded<E: de::Error>(units: Option<u64>, shown: &dyn fmt::Display) -> Result<Self, E> {
        match units {
            Some(units) if units <= U::MAX => Ok(Self::from_units(units)),
            _ => Err(E::custom(U::too_large(shown))),
        }
    }
}

impl<U: Unit> fmt::Debug for Scalar<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", U::TYPE_NAME, self.0)
    }
}

impl<U: Unit> fmt::Display for Scalar<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        U::display(self.0, f)
    }
}

/// Parses a Kubernetes quantity string, rounding up to whole stored units. Any value
/// representable as `u64` stored units is accepted (deserialization bounds it further).
impl<U: Unit> FromStr for Scalar<U> {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, QuantityError> {
        let parsed = parse_quantity(s)?;
        to_units(&parsed, s, U::QUANTITY_POW10, 0, U::QUANTITY_UNIT).map(Self::from_units)
    }
}

impl<U: Unit> Serialize for Scalar<U> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let per = U::per_wire_unit();
        if self.0.is_multiple_of(per) {
            serializer.serialize_u64(self.0 / per)
        } else {
            serializer.serialize_f64(U::wire_f64(self.0))
        }
    }
}

impl<'de, U: Unit> Deserialize<'de> for Scalar<U> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor(PhantomData))
    }
}

pub(super) struct ScalarVisitor<U>(pub(super) PhantomData<U>);

impl<U: Unit> Visitor<'_> for ScalarVisitor<U> {
    type Value = Scalar<U>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(U::EXPECTING)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar<U>, E> {
        Scalar::bounded(v.checked_mul(U::per_wire_unit()), &v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar<U>, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(format_args!(
                "invalid {} value {v}: {}",
                U::WIRE_NAME,
                NumberError::Negative
            ))),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar<U>, E> {
        match units_from_f64(v, U::POW10, U::POW2) {
            Ok(units) => Scalar::bounded(Some(units), &v),
            Err(NumberError::TooLarge) => Scalar::bounded(None, &v),
            Err(err) => Err(E::custom(format_args!(
                "invalid {} value {v}: {err}",
                U::WIRE_NAME
            ))),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar<U>, E> {
        match v.parse::<Scalar<U>>() {
            Ok(amount) => Scalar::bounded(Some(amount.0), &format_args!("{v:?}")),
            Err(err) => Err(E::custom(format_args!("{}: {err}", U::QUANTITY_ERROR))),
        }
    }
}

impl<U: Unit> JsonSchema for Scalar<U> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        U::TYPE_NAME.into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schema_from_json(serde_json::json!({
            "type": "number", "minimum": 0, "maximum": U::SCHEMA_MAX,
        }))
    }
}

// ---------------------------------------------------------------------------
// Cpus
// ---------------------------------------------------------------------------

/// The unit of [`Cpus`]: milli-CPUs, CPUs on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MilliCpu;

/// An amount of CPU, stored exactly as milli-CPUs (`Cpus::from_millis(1500)` is 1.5
/// CPUs).
///
/// On the wire it is a JSON number of CPUs (`1.5`). Deserialization is exact
/// for every value with at most three decimals; finer values round *up* to
/// the next milli-CPU so a tiny non-zero request never becomes zero. A
/// Kubernetes quantity string (`"500m"`, `"2"`) is accepted as input too.
pub type Cpus = Scalar<MilliCpu>;

impl Unit for MilliCpu {
    const TYPE_NAME: &'static str = "Cpus";
    const WIRE_NAME: &'static str = "cpus";
    const POW10: i32 = 3;
    const POW2: u32 = 0;
    const QUANTITY_POW10: i32 = 3;
    const QUANTITY_UNIT: &'static str = "cpu";
    const QUANTITY_ERROR: &'static str = "invalid cpus value";
    /// 10^12 CPUs: every value up to this one survives a JSON round trip exactly.
    const MAX: u64 = 1_000_000_000_000_000;
    const SCHEMA_MAX: u64 = super::Resources::MAX_CPUS.0 / MILLIS_PER_CPU;
    const EXPECTING: &'static str =
        "a non-negative number of CPUs (e.g. 1.5) or a Kubernetes CPU quantity string";

    fn too_large(shown: &dyn fmt::Display) -> String {
        format!(
            "invalid cpus value {shown}: exceeds the maximum of {} cpus",
            Cpus::MAX
        )
    }

    /// Decimal CPUs without float noise: 1500 milli-CPUs → `1.5`, 100 → `0.1`.
    fn display(units: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&fixed_point(
            units / MILLIS_PER_CPU,
            units % MILLIS_PER_CPU,
            3,
        ))
    }

    /// Exact for every value up to `Cpus::MAX`: the decimal has at most 15 significant
    /// digits, so the shortest float representation serde_json prints is that decimal.
    fn wire_f64(units: u64) -> f64 {
        units as f64 / MILLIS_PER_CPU as f64
    }

    /// Whole CPUs when exact (`"2"`), else milli-CPUs (`"1500m"`).
    fn to_quantity(units: u64) -> Quantity {
        if units.is_multiple_of(MILLIS_PER_CPU) {
            Quantity((units / MILLIS_PER_CPU).to_string())
        } else {
            Quantity(format!("{units}m"))
        }
    }
}

impl Scalar<MilliCpu> {
    /// The largest value accepted by deserialization: 10^12 CPUs. Every value
    /// up to this one survives a JSON round trip exactly.
    pub const MAX: Cpus = Cpus::from_millis(MilliCpu::MAX);

    /// Creates an amount from milli-CPUs.
    pub const fn from_millis(millis: u64) -> Self {
        Self::from_units(millis)
    }

    /// Creates an amount from whole CPUs; `None` on overflow.
    pub const fn from_whole(cpus: u64) -> Option<Self> {
        match cpus.checked_mul(MILLIS_PER_CPU) {
            Some(millis) => Some(Self::from_units(millis)),
            None => None,
        }
    }

    /// The amount in milli-CPUs.
    pub const fn millis(self) -> u64 {
        self.0
    }
}

// ---------------------------------------------------------------------------
// Mebibytes
// ---------------------------------------------------------------------------

/// The unit of [`Mebibytes`]: bytes, MiB on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Byte;

/// An amount of memory or disk, stored exactly as **bytes**
/// (`Mebibytes::from_bytes(1 << 20)` is 1 MiB).
///
/// On the wire it is a JSON number of MiB, Mesos' unit (`256`, `0.5`);
/// fractional values round *up* to whole bytes. A Kubernetes quantity string
/// is accepted as input too and, as in Kubernetes, counts **bytes**
/// (`"256Mi"`, `"1Gi"`, `"1000"` = 1000 bytes).
pub type Mebibytes = Scalar<Byte>;

impl Unit for Byte {
    const TYPE_NAME: &'static str = "Mebibytes";
    const WIRE_NAME: &'static str = "MiB";
    const POW10: i32 = 0;
    const POW2: u32 = 20;
    const QUANTITY_POW10: i32 = 0;
    const QUANTITY_UNIT: &'static str = "bytes";
    const QUANTITY_ERROR: &'static str = "invalid byte quantity";
    const MAX: u64 = u64::MAX;
    const SCHEMA_MAX: u64 = super::Resources::MAX_BYTES.0 / MIB;
    const EXPECTING: &'static str =
        "a non-negative number of MiB (e.g. 256) or a Kubernetes byte quantity string";

    fn too_large(shown: &dyn fmt::Display) -> String {
        format!("invalid MiB value {shown}: {}", NumberError::TooLarge)
    }

    /// MiB with up to six decimals (rounded to nearest), exact when integral:
    /// `268435456` bytes → `256`, `524288` → `0.5`.
    fn display(units: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut whole = units / MIB;
        let rem = u128::from(units % MIB);
        let mut frac = (rem * 1_000_000 + u128::from(MIB / 2)) / u128::from(MIB);
        if frac == 1_000_000 {
            whole += 1;
            frac = 0;
        }
        // `frac` < 10^6 here.
        f.pad(&fixed_point(whole, u64::try_from(frac).unwrap_or(0), 6))
    }

    /// A decimal with at most 15 significant digits `d` such that
    /// `ceil(d * 2^20) == units` (exact below 10^8 MiB).
    fn wire_f64(units: u64) -> f64 {
        let bytes = u128::from(units);
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

    /// The largest exact binary suffix (`"256Mi"`, `"1536Mi"`, `"3Gi"`), or plain bytes.
    fn to_quantity(units: u64) -> Quantity {
        const SUFFIXES: [(&str, u32); 6] = [
            ("Ei", 60),
            ("Pi", 50),
            ("Ti", 40),
            ("Gi", 30),
            ("Mi", 20),
            ("Ki", 10),
        ];
        if units != 0 {
            for (suffix, shift) in SUFFIXES {
                if units.trailing_zeros() >= shift {
                    return Quantity(format!("{}{suffix}", units >> shift));
                }
            }
        }
        Quantity(units.to_string())
    }
}

impl Scalar<Byte> {
    /// Creates an amount from bytes.
    pub const fn from_bytes(bytes: u64) -> Self {
        Self::from_units(bytes)
    }

    /// Creates an amount from whole MiB; `None` on overflow.
    pub const fn from_mib(mib: u64) -> Option<Self> {
        match mib.checked_mul(MIB) {
            Some(bytes) => Some(Self::from_units(bytes)),
            None => None,
        }
    }

    /// The amount in bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }
}

// ---------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------

/// Formats `whole.frac` where `frac` has `places` decimal places, trimming
/// trailing zeros (and the point itself when `frac` is zero).
fn fixed_point(whole: u64, frac: u64, places: usize) -> String {
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:0places$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Why a JSON number could not be converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NumberError {
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
pub(super) fn units_from_f64(value: f64, pow10: i32, pow2: u32) -> Result<u64, NumberError> {
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
