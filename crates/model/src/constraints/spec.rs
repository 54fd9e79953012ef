//! The constraint as a user writes it in a custom resource: `{field, operator, value}`.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ConstraintProblem;

/// One placement constraint as written in a spec, Marathon's `[field, OPERATOR, value]` as
/// an object. [`super::parse`] turns a list of them into checked [`super::Constraints`].
///
/// The CEL rules below refuse at apply time what [`super::parse`] refuses, except a value
/// that is not a valid regular expression (CEL cannot compile one): that is reported by
/// the parse step, on the object's status.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "self.operator != 'UNIQUE' || !has(self.value) || self.value == ''",
        "message": "UNIQUE takes no value"
    },
    {
        "rule": "!(self.operator in ['LIKE', 'UNLIKE']) || (has(self.value) && self.value != '')",
        "message": "LIKE and UNLIKE need a regular expression as value"
    },
    {
        "rule": "self.operator != 'MAX_PER' || (has(self.value) && self.value.matches('^[0-9]{1,9}$') && int(self.value) >= 1)",
        "message": "MAX_PER needs a positive integer as value"
    },
    {
        "rule": "self.operator != 'GROUP_BY' || !has(self.value) || self.value == '' || (self.value.matches('^[0-9]{1,9}$') && int(self.value) >= 1)",
        "message": "GROUP_BY takes no value or a positive integer"
    },
    {
        "rule": "self.operator != 'IS' || (has(self.value) && self.value.matches('^[a-zA-Z0-9_/.-]+$'))",
        "message": "IS needs a text value of letters, digits, '_', '/', '.' and '-'"
    }
]))]
pub struct ConstraintSpec {
    /// What is compared: `hostname`, `zone` (the node label `topology.kubernetes.io/zone`),
    /// `region` (`topology.kubernetes.io/region`), or any other node label key. Marathon's
    /// `@hostname`, `@zone` and `@region` are accepted too.
    #[schemars(length(min = 1, max = 317))]
    pub field: String,
    /// One of Marathon's seven operators.
    pub operator: ConstraintOperator,
    /// The operator's argument: a value (CLUSTER, IS), a count (GROUP_BY, MAX_PER) or a
    /// regular expression matched against the whole value (LIKE, UNLIKE). An empty string
    /// counts as absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub value: Option<String>,
}

impl ConstraintSpec {
    /// A constraint from its parts.
    pub fn new(field: &str, operator: ConstraintOperator, value: Option<&str>) -> Self {
        Self {
            field: field.to_string(),
            operator,
            value: value.map(str::to_string),
        }
    }

    /// A constraint from Marathon's array form, `[field, operator]` or
    /// `[field, operator, value]`; the operator is matched case-insensitively, as Marathon
    /// does.
    pub fn from_marathon(parts: &[String]) -> Result<Self, ConstraintProblem> {
        match parts {
            [field, operator] => Ok(Self::new(field, operator.parse()?, None)),
            [field, operator, value] => Ok(Self::new(field, operator.parse()?, Some(value))),
            _ => Err(ConstraintProblem::WrongArity(parts.len())),
        }
    }

    /// The value, with an empty string read as absent.
    pub(crate) fn given_value(&self) -> Option<&str> {
        self.value.as_deref().filter(|v| !v.is_empty())
    }
}

impl fmt::Display for ConstraintSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.operator)?;
        match self.given_value() {
            Some(value) => write!(f, " {value}"),
            None => Ok(()),
        }
    }
}

/// Marathon's seven constraint operators, spelled as Marathon spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ConstraintOperator {
    /// No two instances share a value.
    #[serde(rename = "UNIQUE")]
    Unique,
    /// Every instance has the given value; without one, the value of the first instance.
    #[serde(rename = "CLUSTER")]
    Cluster,
    /// Instances spread evenly over the values (over N values when a count is given).
    #[serde(rename = "GROUP_BY")]
    GroupBy,
    /// At most N instances per value.
    #[serde(rename = "MAX_PER")]
    MaxPer,
    /// The whole value matches the regular expression.
    #[serde(rename = "LIKE")]
    Like,
    /// The whole value does not match the regular expression (a missing value passes).
    #[serde(rename = "UNLIKE")]
    Unlike,
    /// The value equals the given text.
    #[serde(rename = "IS")]
    Is,
}

impl ConstraintOperator {
    /// Every operator, in Marathon's order.
    pub const ALL: [Self; 7] = [
        Self::Unique,
        Self::Cluster,
        Self::GroupBy,
        Self::Like,
        Self::MaxPer,
        Self::Unlike,
        Self::Is,
    ];

    /// The wire spelling (`GROUP_BY`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unique => "UNIQUE",
            Self::Cluster => "CLUSTER",
            Self::GroupBy => "GROUP_BY",
            Self::MaxPer => "MAX_PER",
            Self::Like => "LIKE",
            Self::Unlike => "UNLIKE",
            Self::Is => "IS",
        }
    }
}

impl fmt::Display for ConstraintOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConstraintOperator {
    type Err = ConstraintProblem;

    /// Case-insensitive, as Marathon upper-cases the operator before matching it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| ConstraintProblem::UnknownOperator(s.to_string()))
    }
}
