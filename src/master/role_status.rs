//! A ResourceRole's status, decided (pure): what its frameworks hold, and whether that
//! covers the role's quota guarantee.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::api::condition::{ConditionStatus, Conditions};
use crate::api::role::RoleCondition;
use crate::api::{Framework, ResourceRole, ResourceRoleStatus, Resources};

/// The role's new status from its frameworks' statuses, or `None` when the stored one is
/// already right.
pub fn plan_status<'a>(
    role: &ResourceRole,
    frameworks: impl IntoIterator<Item = &'a Framework>,
    now: Timestamp,
) -> Option<ResourceRoleStatus> {
    let (allocated, offered) = frameworks
        .into_iter()
        .filter_map(|f| f.status.as_ref())
        .fold(
            (Resources::default(), Resources::default()),
            |(allocated, offered), s| {
                (
                    allocated.saturating_add(&s.allocated),
                    offered.saturating_add(&s.offered),
                )
            },
        );
    let current = role.status.clone().unwrap_or_default();
    let generation = role.metadata.generation;
    let mut next = ResourceRoleStatus {
        allocated,
        offered,
        observed_generation: generation,
        ..current.clone()
    };
    if let Some(guarantee) = role.spec.quota.as_ref().and_then(|q| q.guarantee.as_ref()) {
        let met = next
            .allocated
            .saturating_add(&next.offered)
            .contains(guarantee);
        let (reason, verb) = if met {
            ("Met", "covers")
        } else {
            ("NotMet", "is below")
        };
        next.conditions.set(
            RoleCondition::GuaranteeMet,
            ConditionStatus::from_bool(met),
            reason,
            &format!(
                "allocated {} {verb} the guarantee {guarantee}",
                next.allocated
            ),
            generation,
            &Time(now),
        );
    }
    (next != current).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(guarantee: Option<&str>) -> ResourceRole {
        let spec = match guarantee {
            Some(g) => {
                serde_json::json!({"quota": {"guarantee": serde_json::from_str::<serde_json::Value>(g).unwrap_or_default()}})
            }
            None => serde_json::json!({}),
        };
        let mut r = ResourceRole::new(
            "analytics",
            serde_json::from_value(spec).unwrap_or_else(|e| panic!("{e}")),
        );
        r.metadata.generation = Some(2);
        r
    }

    fn framework(allocated: &str, offered: &str) -> Framework {
        let mut f = Framework::new(
            "fw",
            serde_json::from_value(serde_json::json!({})).unwrap_or_else(|e| panic!("{e}")),
        );
        f.status = Some(crate::api::FrameworkStatus {
            allocated: serde_json::from_str(allocated).unwrap_or_default(),
            offered: serde_json::from_str(offered).unwrap_or_default(),
            ..Default::default()
        });
        f
    }

    #[test]
    fn the_guarantee_counts_what_is_allocated_and_offered() {
        let r = role(Some(r#"{"cpus": 4, "mem": 512}"#));
        let below = [framework(
            r#"{"cpus": 2, "mem": 256}"#,
            r#"{"cpus": 1, "mem": 128}"#,
        )];
        let status = plan_status(&r, &below, Timestamp::UNIX_EPOCH).unwrap_or_default();
        assert_eq!(status.allocated.cpus.0, 2000);
        assert_eq!(status.observed_generation, Some(2));
        let c = status.conditions.get_condition(RoleCondition::GuaranteeMet);
        assert_eq!(
            c.map(|c| (c.status.as_str(), c.reason.as_str())),
            Some(("False", "NotMet"))
        );
        let met = [
            framework(r#"{"cpus": 2, "mem": 256}"#, r#"{"cpus": 1, "mem": 128}"#),
            framework(r#"{"cpus": 1, "mem": 128}"#, "{}"),
        ];
        let status = plan_status(&r, &met, Timestamp::UNIX_EPOCH).unwrap_or_default();
        assert!(status.conditions.is_true(RoleCondition::GuaranteeMet));
    }

    #[test]
    fn an_unchanged_status_is_not_written_again() {
        let mut r = role(None);
        let fws = [framework(r#"{"cpus": 1, "mem": 64}"#, "{}")];
        r.status = plan_status(&r, &fws, Timestamp::UNIX_EPOCH);
        assert!(r.status.is_some());
        assert_eq!(plan_status(&r, &fws, Timestamp::UNIX_EPOCH), None);
    }
}
