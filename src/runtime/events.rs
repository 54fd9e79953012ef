//! Kubernetes Events (`events.k8s.io/v1`), with repeats folded into a series.
//!
//! kube's `Recorder` remembers every Event it published for six minutes and scans all of
//! them, under a lock, on each publish: with thousands of tasks that is tens of MiB and a
//! scan of thousands of entries per Event. Like client-go's event broadcaster, this
//! recorder remembers only the most recent distinct Events (an LRU of
//! [`EventRecorder::CAPACITY`]) and only what a repeat needs: the Event's name and count.
//!
//! Two Events are the same when they regard the same object (kind, namespace, name, uid)
//! with the same type, reason and action, as in client-go and kube. A repeat within
//! [`EventRecorder::SERIES_WINDOW`] of the previous one patches the first Event's
//! `series` (count and last observed time) instead of creating another Event.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::events::EventType;
use kube::{Api, Client};
use lru::LruCache;

/// What makes two Events the same, for folding a repeat into a series.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventKey {
    regarding: String,
    warning: bool,
    reason: String,
    action: String,
}

impl EventKey {
    /// The key of an Event of `type_`, `reason` and `action` regarding `regarding`.
    pub fn new(regarding: &ObjectReference, type_: EventType, reason: &str, action: &str) -> Self {
        let part = |s: &Option<String>| s.as_deref().unwrap_or_default().to_owned();
        Self {
            regarding: [
                part(&regarding.kind),
                part(&regarding.namespace),
                part(&regarding.name),
                part(&regarding.uid),
            ]
            .join("/"),
            warning: type_ == EventType::Warning,
            reason: reason.into(),
            action: action.into(),
        }
    }
}

/// The last Event published under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Recent {
    name: String,
    count: i32,
    last: Timestamp,
}

/// What to do for an Event, decided from the recent ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Publish {
    /// A new Event.
    Create,
    /// A repeat: set the series of Event `name` to `count` occurrences.
    Repeat { name: String, count: i32 },
}

/// The recent distinct Events: a bounded LRU. Pure: time is passed in.
pub struct RecentEvents(LruCache<EventKey, Recent>);

impl RecentEvents {
    /// Remembers at most `capacity` distinct Events.
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self(LruCache::new(capacity))
    }

    /// Decides whether an Event under `key` at `now` is new or a repeat, and counts it.
    /// A new Event is remembered by [`RecentEvents::created`] once it exists.
    pub fn publish(&mut self, key: &EventKey, now: Timestamp) -> Publish {
        match self.0.get_mut(key) {
            Some(recent) if recent.last + EventRecorder::SERIES_WINDOW > now => {
                recent.count = recent.count.saturating_add(1);
                recent.last = now;
                Publish::Repeat {
                    name: recent.name.clone(),
                    count: recent.count,
                }
            }
            _ => Publish::Create,
        }
    }

    /// Remembers the Event `name` just created under `key`.
    pub fn created(&mut self, key: EventKey, name: String, now: Timestamp) {
        self.0.put(
            key,
            Recent {
                name,
                count: 1,
                last: now,
            },
        );
    }

    /// Forgets `key` (its Event is gone, e.g. expired in the API server).
    pub fn forget(&mut self, key: &EventKey) {
        self.0.pop(key);
    }

    /// How many distinct Events are remembered.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Publishes Events as one reporting controller (and instance).
pub struct EventRecorder {
    client: Client,
    controller: String,
    instance: String,
    recent: Mutex<RecentEvents>,
}

impl EventRecorder {
    /// Distinct Events remembered for folding repeats (client-go's LRU holds 4,096).
    pub const CAPACITY: NonZeroUsize = NonZeroUsize::new(4096).unwrap();
    /// A repeat this soon after the previous one joins its series (as in client-go).
    pub const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);

    /// A recorder reporting as `controller` from `instance` (e.g. the pod's name).
    pub fn new(client: Client, controller: &str, instance: Option<String>) -> Self {
        Self {
            client,
            controller: controller.into(),
            instance: instance.unwrap_or_else(|| controller.into()),
            recent: Mutex::new(RecentEvents::new(Self::CAPACITY)),
        }
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, RecentEvents> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes an Event regarding `regarding`; a repeat updates the earlier Event's
    /// series. Cluster-scoped objects' Events go to the `default` namespace.
    pub async fn publish(
        &self,
        regarding: ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = EventKey::new(&regarding, type_, reason, action);
        let namespace = regarding.namespace.as_deref().unwrap_or("default");
        let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        let decision = self.recent().publish(&key, now);
        if let Publish::Repeat { name, count } = decision {
            let series = serde_json::json!({
                "series": EventSeries { count, last_observed_time: MicroTime(now) }
            });
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&series))
                .await
            {
                Ok(_) => return Ok(()),
                // The first Event expired (Events live an hour): start a new one.
                Err(kube::Error::Api(s)) if s.code == 404 => self.recent().forget(&key),
                Err(e) => return Err(e),
            }
        }
        let name = format!(
            "{}.{:x}",
            regarding.name.as_deref().unwrap_or(&self.controller),
            now.as_nanosecond()
        );
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.into()),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(now)),
            type_: Some(
                if type_ == EventType::Warning {
                    "Warning"
                } else {
                    "Normal"
                }
                .into(),
            ),
            reason: Some(reason.into()),
            action: Some(action.into()),
            note: Some(note),
            regarding: Some(regarding),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..Event::default()
        };
        api.create(&PostParams::default(), &event).await?;
        self.recent().created(key, name, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(name: &str, uid: &str) -> ObjectReference {
        ObjectReference {
            kind: Some("Task".into()),
            namespace: Some("ns".into()),
            name: Some(name.into()),
            uid: Some(uid.into()),
            ..ObjectReference::default()
        }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    #[test]
    fn a_repeat_within_the_window_joins_the_series_of_the_first_event() {
        let mut recent = RecentEvents::new(EventRecorder::CAPACITY);
        let key = EventKey::new(
            &object("t", "u1"),
            EventType::Warning,
            "Unschedulable",
            "Place",
        );
        assert_eq!(recent.publish(&key, at(0)), Publish::Create);
        recent.created(key.clone(), "t.1".into(), at(0));
        assert_eq!(
            recent.publish(&key, at(10)),
            Publish::Repeat {
                name: "t.1".into(),
                count: 2
            }
        );
        assert_eq!(
            recent.publish(&key, at(20)),
            Publish::Repeat {
                name: "t.1".into(),
                count: 3
            }
        );
        // The window runs from the last repeat, not the first Event.
        assert_eq!(
            recent.publish(&key, at(20 + 5 * 60)),
            Publish::Repeat {
                name: "t.1".into(),
                count: 4
            }
        );
        // Quiet for longer than the window: a new Event.
        assert_eq!(recent.publish(&key, at(20 + 12 * 60)), Publish::Create);
    }

    #[test]
    fn events_that_differ_in_object_uid_type_reason_or_action_are_distinct() {
        let mut recent = RecentEvents::new(EventRecorder::CAPACITY);
        let base = EventKey::new(&object("t", "u1"), EventType::Normal, "Launched", "Launch");
        recent.created(base.clone(), "t.1".into(), at(0));
        for other in [
            EventKey::new(&object("t2", "u1"), EventType::Normal, "Launched", "Launch"),
            EventKey::new(&object("t", "u2"), EventType::Normal, "Launched", "Launch"),
            EventKey::new(&object("t", "u1"), EventType::Warning, "Launched", "Launch"),
            EventKey::new(&object("t", "u1"), EventType::Normal, "Finished", "Launch"),
            EventKey::new(&object("t", "u1"), EventType::Normal, "Launched", "Update"),
        ] {
            assert_eq!(recent.publish(&other, at(1)), Publish::Create, "{other:?}");
        }
        assert!(matches!(
            recent.publish(&base, at(1)),
            Publish::Repeat { .. }
        ));
    }

    #[test]
    fn memory_is_bounded_and_the_least_recent_event_is_forgotten_first() {
        let mut recent = RecentEvents::new(NonZeroUsize::new(3).unwrap());
        let keys: Vec<_> = (0..4)
            .map(|i| EventKey::new(&object(&format!("t{i}"), "u"), EventType::Normal, "R", "A"))
            .collect();
        for (i, key) in keys.iter().take(3).enumerate() {
            recent.created(key.clone(), format!("e{i}"), at(0));
        }
        // Touch t0, so t1 is now the least recent.
        assert!(matches!(
            recent.publish(&keys[0], at(1)),
            Publish::Repeat { .. }
        ));
        recent.created(keys[3].clone(), "e3".into(), at(2));
        assert_eq!(recent.len(), 3);
        assert_eq!(recent.publish(&keys[1], at(3)), Publish::Create);
        assert!(matches!(
            recent.publish(&keys[0], at(3)),
            Publish::Repeat { .. }
        ));
        assert!(matches!(
            recent.publish(&keys[3], at(3)),
            Publish::Repeat { .. }
        ));
    }

    #[test]
    fn a_forgotten_event_starts_a_new_one() {
        let mut recent = RecentEvents::new(EventRecorder::CAPACITY);
        let key = EventKey::new(&object("t", "u"), EventType::Normal, "R", "A");
        recent.created(key.clone(), "t.1".into(), at(0));
        recent.forget(&key);
        assert!(recent.is_empty());
        assert_eq!(recent.publish(&key, at(1)), Publish::Create);
    }
}
