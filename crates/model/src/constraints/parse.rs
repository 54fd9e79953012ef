//! The parse and validate step: [`ConstraintSpec`]s in, checked [`Constraints`] out, or an
//! error naming each bad constraint by its position and saying what is wrong with it.

use std::fmt;

use regex::{Regex, RegexBuilder};

use super::spec::{ConstraintOperator, ConstraintSpec};

/// The node label Kubernetes puts a node's zone in.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// The node label Kubernetes puts a node's region in.
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";

/// Compiled patterns larger than this are refused (a user's regex must not eat memory).
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// The largest count GROUP_BY and MAX_PER take (nine digits, as the CEL rule allows).
const MAX_COUNT: u32 = 999_999_999;

/// What a constraint compares.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// The node's name.
    Hostname,
    /// The node's `topology.kubernetes.io/zone` label.
    Zone,
    /// The node's `topology.kubernetes.io/region` label.
    Region,
    /// Any other node label, by key.
    Label(String),
}

impl Field {
    /// Reads a field name: `hostname`, `zone`, `region` (with or without Marathon's `@`),
    /// or a node label key.
    pub fn parse(name: &str) -> Result<Self, ConstraintProblem> {
        match name {
            "" => Err(ConstraintProblem::EmptyField),
            "hostname" | "@hostname" => Ok(Self::Hostname),
            "zone" | "@zone" | ZONE_LABEL => Ok(Self::Zone),
            "region" | "@region" | REGION_LABEL => Ok(Self::Region),
            key if is_label_key(key) => Ok(Self::Label(key.to_string())),
            key => Err(ConstraintProblem::BadLabelKey(key.to_string())),
        }
    }

    /// The node label this field reads, if it reads one.
    pub fn label_key(&self) -> Option<&str> {
        match self {
            Self::Hostname => None,
            Self::Zone => Some(ZONE_LABEL),
            Self::Region => Some(REGION_LABEL),
            Self::Label(key) => Some(key),
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hostname => f.write_str("hostname"),
            Self::Zone => f.write_str("zone"),
            Self::Region => f.write_str("region"),
            Self::Label(key) => f.write_str(key),
        }
    }
}

/// Whether `key` is a Kubernetes label key: an optional DNS-subdomain prefix and `/`, then
/// a name of at most 63 characters (alphanumerics, `-`, `_`, `.`; alphanumeric at both ends).
fn is_label_key(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    name_ok && prefix.is_none_or(is_dns_subdomain)
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|part| {
            !part.is_empty()
                && part.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && part.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

/// An operator with its checked argument.
#[derive(Clone, Debug)]
pub enum Rule {
    /// No two instances share a value.
    Unique,
    /// Every value equals this one; `None`: the first instance's value.
    Cluster(Option<String>),
    /// Spread over this many values; `None`: keep every used value within one of the least used.
    GroupBy(Option<u32>),
    /// At most this many instances per value.
    MaxPer(u32),
    /// The whole value matches (the pattern is anchored at both ends).
    Like(Regex),
    /// The whole value does not match; a missing value passes.
    Unlike(Regex),
    /// The value equals this text.
    Is(String),
}

impl Rule {
    /// Whether the rule judges a value alone (LIKE, UNLIKE, IS, CLUSTER with a value), as
    /// opposed to against the other instances' values (UNIQUE, GROUP_BY, MAX_PER, CLUSTER
    /// without a value).
    pub fn judges_value_alone(&self) -> bool {
        matches!(
            self,
            Self::Like(_) | Self::Unlike(_) | Self::Is(_) | Self::Cluster(Some(_))
        )
    }

    /// Whether a node whose field has `value` passes this rule on its own (for the rules
    /// that [judge a value alone](Self::judges_value_alone); the others pass any present
    /// value here). A missing value passes only UNLIKE.
    pub fn admits_value(&self, value: Option<&str>) -> bool {
        match (self, value) {
            (Self::Unlike(re), Some(v)) => !re.is_match(v),
            (Self::Unlike(_), None) => true,
            (_, None) => false,
            (Self::Like(re), Some(v)) => re.is_match(v),
            (Self::Is(want) | Self::Cluster(Some(want)), Some(v)) => v == want,
            (_, Some(_)) => true,
        }
    }
}

/// One checked constraint.
#[derive(Clone, Debug)]
pub struct Constraint {
    /// Its position in the spec's list (0-based, as in the field path `constraints[1]`).
    pub index: usize,
    /// What it compares.
    pub field: Field,
    /// How.
    pub rule: Rule,
    /// As written, for messages.
    pub spec: ConstraintSpec,
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "constraint {} ({})", self.index, self.spec)
    }
}

/// A checked list of constraints, in spec order. Empty admits everything.
#[derive(Clone, Debug, Default)]
pub struct Constraints {
    list: Vec<Constraint>,
}

impl Constraints {
    /// The constraints, in spec order.
    pub fn iter(&self) -> std::slice::Iter<'_, Constraint> {
        self.list.iter()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The specs they were parsed from.
    pub fn specs(&self) -> Vec<ConstraintSpec> {
        self.list.iter().map(|c| c.spec.clone()).collect()
    }
}

/// Checks every constraint of a spec's list; the error lists each bad one.
pub fn parse(specs: &[ConstraintSpec]) -> Result<Constraints, ConstraintErrors> {
    let mut list = Vec::with_capacity(specs.len());
    let mut errors = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        match parse_one(index, spec) {
            Ok(constraint) => list.push(constraint),
            Err(problem) => errors.push(ConstraintError {
                index,
                constraint: spec.to_string(),
                problem,
            }),
        }
    }
    if errors.is_empty() {
        Ok(Constraints { list })
    } else {
        Err(ConstraintErrors(errors))
    }
}

/// Checks constraints in Marathon's array form (`[["hostname", "UNIQUE"], ...]`), where a
/// bad operator or a wrong number of elements can also occur.
pub fn parse_marathon(arrays: &[Vec<String>]) -> Result<Constraints, ConstraintErrors> {
    let mut specs = Vec::with_capacity(arrays.len());
    let mut errors = Vec::new();
    for (index, parts) in arrays.iter().enumerate() {
        match ConstraintSpec::from_marathon(parts) {
            Ok(spec) => specs.push(spec),
            Err(problem) => errors.push(ConstraintError {
                index,
                constraint: parts.join(" "),
                problem,
            }),
        }
    }
    if !errors.is_empty() {
        return Err(ConstraintErrors(errors));
    }
    parse(&specs)
}

fn parse_one(index: usize, spec: &ConstraintSpec) -> Result<Constraint, ConstraintProblem> {
    let field = Field::parse(&spec.field)?;
    let op = spec.operator;
    let value = spec.given_value();
    let rule = match op {
        ConstraintOperator::Unique => match value {
            None => Rule::Unique,
            Some(_) => return Err(ConstraintProblem::UnexpectedValue(op)),
        },
        ConstraintOperator::Cluster => Rule::Cluster(value.map(str::to_string)),
        ConstraintOperator::GroupBy => Rule::GroupBy(value.map(|v| count(op, v)).transpose()?),
        ConstraintOperator::MaxPer => Rule::MaxPer(count(op, required(op, value)?)?),
        ConstraintOperator::Like => Rule::Like(whole_match(required(op, value)?)?),
        ConstraintOperator::Unlike => Rule::Unlike(whole_match(required(op, value)?)?),
        ConstraintOperator::Is => Rule::Is(is_text(required(op, value)?)?),
    };
    Ok(Constraint {
        index,
        field,
        rule,
        spec: spec.clone(),
    })
}

fn required(op: ConstraintOperator, value: Option<&str>) -> Result<&str, ConstraintProblem> {
    value.ok_or(ConstraintProblem::MissingValue(op))
}

/// A positive count of at most nine digits.
fn count(op: ConstraintOperator, value: &str) -> Result<u32, ConstraintProblem> {
    let bad = || ConstraintProblem::BadCount {
        op,
        value: value.to_string(),
    };
    if value.is_empty() || value.len() > 9 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match value.parse::<u32>() {
        Ok(n) if (1..=MAX_COUNT).contains(&n) => Ok(n),
        _ => Err(bad()),
    }
}

/// The pattern anchored at both ends, so it must match the whole value (as Java's
/// `String.matches`, which Marathon uses).
fn whole_match(pattern: &str) -> Result<Regex, ConstraintProblem> {
    RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| ConstraintProblem::BadRegex {
            pattern: pattern.to_string(),
            error: e.to_string(),
        })
}

/// IS compares text of Marathon's allowed characters (`^[a-zA-Z0-9_/.-]*$`).
fn is_text(value: &str) -> Result<String, ConstraintProblem> {
    if value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '.' | '-'))
    {
        Ok(value.to_string())
    } else {
        Err(ConstraintProblem::BadIsValue(value.to_string()))
    }
}

/// What is wrong with one constraint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintProblem {
    /// The field is empty.
    #[error("the field is empty")]
    EmptyField,
    /// The field is neither a known field nor a label key.
    #[error("field '{0}' is not hostname, zone, region or a valid node label key")]
    BadLabelKey(String),
    /// The operator is not one of the seven.
    #[error(
        "unknown operator '{0}' (expected UNIQUE, CLUSTER, GROUP_BY, MAX_PER, LIKE, UNLIKE or IS)"
    )]
    UnknownOperator(String),
    /// Marathon's array form with too few or too many elements.
    #[error("a constraint is [field, operator] or [field, operator, value], not {0} elements")]
    WrongArity(usize),
    /// The operator takes no value but has one.
    #[error("{0} takes no value")]
    UnexpectedValue(ConstraintOperator),
    /// The operator needs a value and has none.
    #[error("{0} needs a value")]
    MissingValue(ConstraintOperator),
    /// The count is not a positive integer.
    #[error("{op} needs a positive integer (at most 999999999), not '{value}'")]
    BadCount {
        /// GROUP_BY or MAX_PER.
        op: ConstraintOperator,
        /// What was given.
        value: String,
    },
    /// The pattern does not compile.
    #[error("'{pattern}' is not a valid regular expression: {error}")]
    BadRegex {
        /// What was given.
        pattern: String,
        /// The regex compiler's complaint.
        error: String,
    },
    /// IS with characters outside Marathon's text alphabet.
    #[error("IS compares text of letters, digits, '_', '/', '.' and '-', not '{0}'")]
    BadIsValue(String),
}

impl ConstraintProblem {
    /// The part of the constraint at fault (`field`, `operator` or `value`), for a field
    /// path such as `spec.constraints[1].value`.
    pub fn part(&self) -> &'static str {
        match self {
            Self::EmptyField | Self::BadLabelKey(_) => "field",
            Self::UnknownOperator(_) | Self::WrongArity(_) => "operator",
            _ => "value",
        }
    }
}

/// One bad constraint: where, what it says, what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("constraint {index} ({constraint}): {problem}")]
pub struct ConstraintError {
    /// Its position in the list (0-based, as in the field path `constraints[1]`).
    pub index: usize,
    /// The constraint as written.
    pub constraint: String,
    /// What is wrong.
    pub problem: ConstraintProblem,
}

/// Every bad constraint of a list.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", join(.0))]
pub struct ConstraintErrors(pub Vec<ConstraintError>);

fn join(errors: &[ConstraintError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
