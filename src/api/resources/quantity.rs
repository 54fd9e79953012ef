//! Kubernetes quantity strings, parsed exactly: every form the API server accepts.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

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
    pub(super) fn scaled(&self, pow10: i32, pow2: u32) -> Option<(u64, bool)> {
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
pub(super) fn to_units(
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
pub(super) fn whole_from_quantity(quantity: &Quantity) -> Result<u64, QuantityError> {
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
