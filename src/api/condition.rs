//! Kubernetes-style status conditions (`type`, `status`, `reason`, `message`,
//! `observedGeneration`, `lastTransitionTime`), kept the way Kubernetes' own controllers
//! keep them: the transition time only moves when the status flips.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The three values of a condition's `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known (yet).
    Unknown,
}

impl ConditionStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }

    /// `True` when `b`, else `False`.
    pub fn from_bool(b: bool) -> Self {
        if b { Self::True } else { Self::False }
    }
}

/// A condition type of one kind: an enum whose variants are the kind's condition types,
/// so a condition is never set or read under a misspelt or foreign type.
pub trait ConditionType: Copy {
    /// The wire spelling (the condition's `type`).
    fn as_str(self) -> &'static str;
}

/// Declares a kind's condition types: an enum, its `ALL` list and its [`ConditionType`].
macro_rules! condition_types {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every condition type of the kind.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire spelling (the condition's `type`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant)),+
                }
            }
        }

        $crate::api::condition::condition_type_impls!($name);

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                self.as_str() == other.as_str()
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.as_str()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use condition_types;

/// [`ConditionType`] for an enum with an inherent `as_str` (also the planners' enums of
/// `mesos-model`).
macro_rules! condition_type_impls {
    ($name:ty) => {
        impl $crate::api::condition::ConditionType for $name {
            fn as_str(self) -> &'static str {
                <$name>::as_str(self)
            }
        }
    };
}
pub(crate) use condition_type_impls;

condition_types! {
    /// The condition every kind carries: whether the object reads as its kind.
    ObjectCondition {
        /// `False` (reason `InvalidSpec`) on an object the operator cannot read, `True`
        /// (reason `ValidSpec`) once it can again.
        Valid,
    }
}

condition_type_impls!(mesos_model::services::deployment::AppCondition);
condition_type_impls!(mesos_model::jobs::plan::ConditionKind);

/// Operations on a list of conditions.
pub trait Conditions {
    /// Sets (or adds) the condition of `type_`. Returns true when anything but the
    /// transition time changed. `lastTransitionTime` is only updated when `status` flips.
    fn set(
        &mut self,
        type_: impl ConditionType,
        status: ConditionStatus,
        reason: &str,
        message: &str,
        generation: Option<i64>,
        now: &Time,
    ) -> bool;

    /// The condition of `type_`, if present.
    fn get_condition(&self, type_: impl ConditionType) -> Option<&Condition>;

    /// Whether the condition of `type_` is present with status `True`.
    fn is_true(&self, type_: impl ConditionType) -> bool {
        self.get_condition(type_)
            .is_some_and(|c| c.status == "True")
    }
}

impl Conditions for Vec<Condition> {
    fn set(
        &mut self,
        type_: impl ConditionType,
        status: ConditionStatus,
        reason: &str,
        message: &str,
        generation: Option<i64>,
        now: &Time,
    ) -> bool {
        let type_ = type_.as_str();
        let status = status.as_str();
        if let Some(c) = self.iter_mut().find(|c| c.type_ == type_) {
            let changed = c.status != status
                || c.reason != reason
                || c.message != message
                || c.observed_generation != generation;
            if c.status != status {
                c.last_transition_time = now.clone();
            }
            c.status = status.to_string();
            c.reason = reason.to_string();
            c.message = message.to_string();
            c.observed_generation = generation;
            changed
        } else {
            self.push(Condition {
                type_: type_.to_string(),
                status: status.to_string(),
                reason: reason.to_string(),
                message: message.to_string(),
                observed_generation: generation,
                last_transition_time: now.clone(),
            });
            true
        }
    }

    fn get_condition(&self, type_: impl ConditionType) -> Option<&Condition> {
        let type_ = type_.as_str();
        self.iter().find(|c| c.type_ == type_)
    }
}

/// Schema extension for condition lists: a list-map keyed by `type`, so server-side apply
/// merges conditions by type.
pub(crate) fn conditions_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = generator.subschema_for::<Vec<Condition>>();
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert(
        "x-kubernetes-list-map-keys".into(),
        serde_json::json!(["type"]),
    );
    schema
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn at(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH))
    }

    condition_types! {
        /// Condition types for the tests.
        TestCondition {
            /// One.
            Ready,
            /// Never set.
            Missing,
        }
    }

    #[test]
    fn declared_types_spell_their_variant() {
        assert_eq!(
            TestCondition::ALL,
            &[TestCondition::Ready, TestCondition::Missing]
        );
        assert_eq!(TestCondition::Missing.as_str(), "Missing");
        assert_eq!(ObjectCondition::Valid.as_str(), "Valid");
    }

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let mut cs: Vec<Condition> = Vec::new();
        assert!(cs.set(
            TestCondition::Ready,
            ConditionStatus::False,
            "Waiting",
            "m",
            Some(1),
            &at(10)
        ));
        assert!(!cs.set(
            TestCondition::Ready,
            ConditionStatus::False,
            "Waiting",
            "m",
            Some(1),
            &at(20)
        ));
        assert_eq!(cs[0].last_transition_time, at(10));
        assert!(cs.set(
            TestCondition::Ready,
            ConditionStatus::False,
            "Other",
            "m",
            Some(1),
            &at(30)
        ));
        assert_eq!(cs[0].last_transition_time, at(10));
        assert!(cs.set(
            TestCondition::Ready,
            ConditionStatus::True,
            "Done",
            "m",
            Some(2),
            &at(40)
        ));
        assert_eq!(cs[0].last_transition_time, at(40));
        assert!(cs.is_true(TestCondition::Ready));
        assert!(!cs.is_true(TestCondition::Missing));
        assert_eq!(cs.len(), 1);
    }
}
