//! One watch per kind, shared by everything in the process: the cache the allocator and
//! the reconcilers read, and the triggers of every controller.
//!
//! kube's `Controller::new`, `owns` and `watches` each open a watch of their own, and
//! `Controller::new` keeps a second cache of its kind. With tasks read by three
//! controllers and the allocator that meant four watches of every Task and two caches of
//! them, and a trigger could arrive before the cache it reads had the change. Here each
//! kind has one reflector; it updates the [`Store`] first and then hands every touched
//! object (deleted ones included) to each subscribed controller, so a reconcile never
//! reads a cache older than the event that triggered it.
//!
//! Cached objects are trimmed: `managedFields` (often the larger half of an object) and,
//! for Pods, the parts of the spec nobody here reads. Watches retry with
//! [`WatchBackoff`].
//!
//! Each cache can keep a secondary [`Index`] ([`IndexKey`]: tasks by framework, by offer
//! and by job; offers by framework; pods by node), updated with the cache, so a
//! reconciler reads the objects it concerns instead of scanning every object of the kind.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc;
use kube::Resource;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tracing::warn;

use super::invalid::Invalids;
use crate::runtime::guard::Guarded;

/// What a secondary index groups objects by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IndexKey {
    /// The objects of a framework: (namespace, framework name).
    Framework(String, String),
    /// The tasks launched on an offer: (namespace, offer name).
    Offer(String, String),
    /// The pods bound to a node.
    Node(String),
    /// The objects with a label value in a namespace: (namespace, label key, value), e.g.
    /// the runs of a BatchJob.
    Label(String, &'static str, String),
}

/// The keys an object is indexed under.
pub type IndexKeys<K> = fn(&K) -> Vec<IndexKey>;

/// No secondary index.
pub fn no_index<K>(_: &K) -> Vec<IndexKey> {
    Vec::new()
}

/// A secondary index of a cache: object references by [`IndexKey`]. Updated from the
/// same watch events as the cache, by the one task that applies them; read with the cache
/// ([`Shared::indexed`]), which has the final word: a reference whose object the cache no
/// longer holds (deleted while the watch was down, then relisted) is dropped on read.
pub struct Index<K: Resource<DynamicType = ()>> {
    keys: IndexKeys<K>,
    maps: Mutex<IndexMaps<K>>,
}

struct IndexMaps<K: Resource<DynamicType = ()>> {
    by_key: HashMap<IndexKey, HashSet<ObjectRef<K>>>,
    keys_of: HashMap<ObjectRef<K>, Vec<IndexKey>>,
}

impl<K: Resource<DynamicType = ()>> Index<K> {
    /// An empty index of the keys `keys` gives each object.
    pub fn new(keys: IndexKeys<K>) -> Self {
        Self {
            keys,
            maps: Mutex::new(IndexMaps {
                by_key: HashMap::new(),
                keys_of: HashMap::new(),
            }),
        }
    }

    /// Records `obj` as it is now (`present`) or as gone.
    pub fn update(&self, obj: &K, present: bool) {
        let reference = ObjectRef::from_obj(obj);
        let keys = if present {
            (self.keys)(obj)
        } else {
            Vec::new()
        };
        let mut maps = self.maps.lock().unwrap_or_else(|p| p.into_inner());
        let IndexMaps { by_key, keys_of } = &mut *maps;
        if let Some(old) = keys_of.remove(&reference) {
            for key in old {
                if let Some(set) = by_key.get_mut(&key) {
                    set.remove(&reference);
                    if set.is_empty() {
                        by_key.remove(&key);
                    }
                }
            }
        }
        for key in &keys {
            by_key
                .entry(key.clone())
                .or_default()
                .insert(reference.clone());
        }
        if !keys.is_empty() {
            keys_of.insert(reference, keys);
        }
    }

    /// The cached objects under `key`.
    pub fn get(&self, key: &IndexKey, store: &Store<K>) -> Vec<Arc<K>>
    where
        K: Clone,
    {
        let maps = self.maps.lock().unwrap_or_else(|p| p.into_inner());
        let Some(references) = maps.by_key.get(key) else {
            return Vec::new();
        };
        let mut found = Vec::with_capacity(references.len());
        let mut gone = Vec::new();
        for reference in references {
            match store.get(reference) {
                Some(obj) => found.push(obj),
                None => gone.push(reference.clone()),
            }
        }
        if !gone.is_empty() {
            drop(maps);
            for reference in gone {
                self.forget(&reference);
            }
        }
        found
    }

    fn forget(&self, reference: &ObjectRef<K>) {
        let mut maps = self.maps.lock().unwrap_or_else(|p| p.into_inner());
        let IndexMaps { by_key, keys_of } = &mut *maps;
        for key in keys_of.remove(reference).unwrap_or_default() {
            if let Some(set) = by_key.get_mut(&key) {
                set.remove(reference);
                if set.is_empty() {
                    by_key.remove(&key);
                }
            }
        }
    }
}

/// A kind's cache and the controllers subscribed to its changes.
pub struct Shared<K: Resource<DynamicType = ()> + 'static> {
    store: Store<K>,
    index: Arc<Index<K>>,
    subscribers: Arc<Mutex<Vec<mpsc::UnboundedSender<Arc<K>>>>>,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Shared<K> {
    /// The cache.
    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// The cached objects under `key` of the secondary index (empty for a cache without
    /// one).
    pub fn indexed(&self, key: &IndexKey) -> Vec<Arc<K>> {
        self.index.get(key, &self.store)
    }

    /// A stream of every object of the kind as it changes (or is deleted), starting with
    /// every cached object once: a controller subscribing late misses nothing. Ends when
    /// the process does; the subscription is dropped with the stream.
    pub fn subscribe(&self) -> impl futures::Stream<Item = Arc<K>> + Send + 'static
    where
        K: Send + Sync,
    {
        let (tx, rx) = mpsc::unbounded();
        // Subscribe before the catch-up: a change in between arrives twice, never not at
        // all (the controllers' queues deduplicate).
        self.subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tx.clone());
        for obj in self.store.state() {
            // A send fails only when the receiver, returned below, is gone.
            let _ = tx.unbounded_send(obj);
        }
        rx
    }
}

impl<K: Resource<DynamicType = ()> + 'static> std::ops::Deref for Shared<K> {
    type Target = Store<K>;

    fn deref(&self) -> &Store<K> {
        &self.store
    }
}

/// Backoff of watches after an error: 100 ms doubling to 5 s, back to 100 ms as soon as
/// the watch delivers an event again.
///
/// kube's default grows to 30 s and forgets only after 120 s without errors, and the
/// `410 Gone` every watch gets after a kube-apiserver restart counts as an error: with it
/// the operator slept up to half a minute after the API server was already back. 5 s
/// still keeps a dead API server from being hammered: nothing hot-loops.
#[derive(Debug, Clone)]
pub struct WatchBackoff {
    next: Duration,
}

impl WatchBackoff {
    /// The first delay after a healthy watch breaks.
    pub const MIN: Duration = Duration::from_millis(100);
    /// The longest delay between retries while the API server stays unreachable.
    pub const MAX: Duration = Duration::from_secs(5);
}

impl Default for WatchBackoff {
    fn default() -> Self {
        Self { next: Self::MIN }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let current = self.next;
        self.next = (current * 2).min(Self::MAX);
        Some(current)
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = Self::MIN;
    }
}

/// Drops what no reader of the cache needs from any object: its `managedFields` and
/// kubectl's copy of the last applied manifest.
pub fn trim_metadata<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// Starts the one watch of `api` and returns its cache and subscriptions; the watch runs
/// until the process ends, reconnecting with [`WatchBackoff`]. `trim` shrinks each object
/// before it is cached; `keys` are its secondary index keys ([`no_index`] for none).
///
/// The watch reads [`Guarded`] objects: one that does not deserialize as `K` never fails
/// the list or the watch. It is kept out of the cache (an object that stops reading is
/// removed from it) and handed to `invalid`, which counts it and has it reported on the
/// object; the rest of the stream goes on.
pub fn spawn<K>(
    api: Api<Guarded<K>>,
    config: watcher::Config,
    trim: fn(&mut K),
    invalid: Arc<Invalids>,
    keys: IndexKeys<K>,
) -> Shared<K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let subscribers: Arc<Mutex<Vec<mpsc::UnboundedSender<Arc<K>>>>> = Arc::default();
    let index = Arc::new(Index::new(keys));
    let shared = Shared {
        store: store.clone(),
        index: index.clone(),
        subscribers: subscribers.clone(),
    };
    let events = watcher(api, config).backoff(WatchBackoff::default());
    let stream = reflector::reflector(writer, guarded(events, store.clone(), trim, invalid));
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            // The index follows the events, not the cache: a list's objects reach the
            // cache only at its end (InitDone), and reads check the cache anyway.
            let (obj, present) = match item {
                Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj)) => (obj, true),
                Ok(watcher::Event::Delete(obj)) => (obj, false),
                Ok(watcher::Event::Init | watcher::Event::InitDone) => continue,
                Err(e) => {
                    warn!(kind = K::kind(&()).as_ref(), error = %e, "watch error; retrying with backoff");
                    continue;
                }
            };
            index.update(&obj, present);
            let mut subscribers = subscribers.lock().unwrap_or_else(|p| p.into_inner());
            if subscribers.is_empty() {
                continue;
            }
            // The cached copy when there is one (no clone); a deleted object as it was.
            let obj = store
                .get(&ObjectRef::from_obj(&obj))
                .unwrap_or_else(|| Arc::new(obj));
            subscribers.retain(|tx| tx.unbounded_send(obj.clone()).is_ok());
        }
    });
    shared
}

/// Turns a watch of [`Guarded`] objects into a watch of `K`: objects that read pass (and
/// are trimmed); one that does not is handed to `invalid` and left out, and if the cache
/// (`store`) still holds an older, readable version of it, that version is deleted from
/// the cache so that nothing acts on a spec that is no longer the object's.
pub fn guarded<K, S>(
    events: S,
    store: Store<K>,
    trim: fn(&mut K),
    invalid: Arc<Invalids>,
) -> impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    S: futures::Stream<Item = Result<watcher::Event<Guarded<K>>, watcher::Error>> + Send,
{
    use watcher::Event;
    events.filter_map(move |event| {
        let typed = |g: Guarded<K>, deleted: bool| -> Option<K> {
            let marked = g.marked_invalid;
            match g.object {
                Ok(mut k) => {
                    invalid.readable(&k, marked, deleted);
                    trim(&mut k);
                    Some(k)
                }
                Err(refused) => {
                    invalid.refused::<K>(refused, deleted);
                    None
                }
            }
        };
        // The cached version of an object that stopped reading, to delete from the cache.
        let cached = |g: &Guarded<K>| {
            let meta = g.meta();
            let mut key = ObjectRef::<K>::new(meta.name.as_deref().unwrap_or_default());
            if let Some(ns) = meta.namespace.as_deref() {
                key = key.within(ns);
            }
            store.get(&key).map(|k| Event::Delete(K::clone(&k)))
        };
        let out = match event {
            Err(e) => Some(Err(e)),
            Ok(Event::Init) => Some(Ok(Event::Init)),
            Ok(Event::InitDone) => Some(Ok(Event::InitDone)),
            // A refused object is simply not part of the new list: the cache drops it.
            Ok(Event::InitApply(g)) => typed(g, false).map(|k| Ok(Event::InitApply(k))),
            Ok(Event::Apply(g)) => {
                let stale = g.object.is_err().then(|| cached(&g)).flatten();
                match typed(g, false) {
                    Some(k) => Some(Ok(Event::Apply(k))),
                    None => stale.map(Ok),
                }
            }
            Ok(Event::Delete(g)) => {
                let stale = g.object.is_err().then(|| cached(&g)).flatten();
                match typed(g, true) {
                    Some(k) => Some(Ok(Event::Delete(k))),
                    None => stale.map(Ok),
                }
            }
        };
        futures::future::ready(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Node;
    use kube::ResourceExt;
    use kube::runtime::utils::Backoff;

    #[test]
    fn watch_backoff_doubles_to_its_cap_and_resets_at_once() {
        let mut backoff = WatchBackoff::default();
        let ms: Vec<u128> = backoff.by_ref().take(8).map(|d| d.as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        backoff.reset();
        assert_eq!(backoff.next(), Some(WatchBackoff::MIN));
    }

    #[test]
    fn trimmed_metadata_drops_managed_fields_and_the_last_applied_manifest_only() {
        let mut node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "n1", "uid": "u", "labels": {"a": "b"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "1"},
                "managedFields": [{"manager": "m", "operation": "Apply"}]
            },
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .expect("a valid node");
        trim_metadata(&mut node);
        assert!(node.metadata.managed_fields.is_none());
        let annotations = node.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(annotations.keys().collect::<Vec<_>>(), ["keep"]);
        assert_eq!(node.metadata.uid.as_deref(), Some("u"));
        assert_eq!(node.labels().len(), 1);
        assert!(crate::master::task_state::node_ready(&node));
    }

    fn task(
        name: &str,
        mem: serde_json::Value,
    ) -> crate::runtime::guard::Guarded<crate::api::Task> {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "mesos.operator.dev/v1alpha1", "kind": "Task",
            "metadata": {"name": name, "namespace": "ns", "generation": 1,
                         "managedFields": [{"manager": "m", "operation": "Apply"}]},
            "spec": {"framework": "demo", "resources": {"cpus": 1, "mem": mem},
                     "command": {"shell": "true"}},
        }))
        .expect("guarded")
    }

    #[test]
    fn the_index_follows_changes_of_keys_deletions_and_what_the_cache_holds() {
        use k8s_openapi::api::core::v1::ConfigMap;
        use kube::runtime::watcher::Event;
        fn keys(cm: &ConfigMap) -> Vec<IndexKey> {
            cm.labels()
                .get("group")
                .map(|g| vec![IndexKey::Node(g.clone())])
                .unwrap_or_default()
        }
        let cm = |name: &str, group: Option<&str>| {
            let mut cm = ConfigMap::default();
            cm.metadata.name = Some(name.into());
            cm.metadata.namespace = Some("ns".into());
            if let Some(g) = group {
                cm.metadata.labels = Some([("group".to_string(), g.to_string())].into());
            }
            cm
        };
        let (store, mut writer) = reflector::store::<ConfigMap>();
        let index = Index::new(keys);
        let mut apply = |obj: ConfigMap, present: bool| {
            writer.apply_watcher_event(&if present {
                Event::Apply(obj.clone())
            } else {
                Event::Delete(obj.clone())
            });
            index.update(&obj, present);
        };
        let names = |key: &str| {
            let mut n: Vec<String> = index
                .get(&IndexKey::Node(key.into()), &store)
                .iter()
                .map(|c| c.name_any())
                .collect();
            n.sort();
            n
        };
        apply(cm("a", Some("x")), true);
        apply(cm("b", Some("x")), true);
        apply(cm("c", None), true);
        assert_eq!(names("x"), ["a", "b"]);
        // A new key moves the object; a deletion removes it.
        apply(cm("b", Some("y")), true);
        apply(cm("a", Some("x")), false);
        assert!(names("x").is_empty());
        assert_eq!(names("y"), ["b"]);
        // Gone from the cache without an event (a relist): dropped on read.
        writer.apply_watcher_event(&Event::Delete(cm("b", Some("y"))));
        assert!(names("y").is_empty());
        assert!(
            index
                .maps
                .lock()
                .map(|m| m.keys_of.is_empty())
                .unwrap_or(false)
        );
    }

    #[tokio::test]
    async fn refused_objects_stay_out_of_the_cache_and_the_stream_goes_on() {
        use crate::api::Task;
        use futures::stream;
        use watcher::Event;
        let (store, writer) = reflector::store::<Task>();
        let invalid = Arc::new(Invalids::default());
        let events: Vec<Result<Event<Guarded<Task>>, watcher::Error>> = vec![
            Ok(Event::Init),
            Ok(Event::InitApply(task("a", 64.into()))),
            Ok(Event::InitApply(task("bad", 1e15.into()))),
            Ok(Event::InitApply(task("b", 64.into()))),
            Ok(Event::InitDone),
            // A watch event with a bad object between good ones.
            Ok(Event::Apply(task("c", 64.into()))),
            Ok(Event::Apply(task("worse", (-1).into()))),
            Ok(Event::Apply(task("d", 64.into()))),
            // A cached object that stops reading leaves the cache.
            Ok(Event::Apply(task("a", "lots".into()))),
            Ok(Event::Delete(task("worse", (-1).into()))),
        ];
        let out: Vec<_> = reflector::reflector(
            writer,
            guarded(
                stream::iter(events),
                store.clone(),
                trim_metadata,
                invalid.clone(),
            ),
        )
        .collect()
        .await;
        assert!(out.iter().all(Result::is_ok));
        let mut cached: Vec<String> = store.state().iter().map(|t| t.name_any()).collect();
        cached.sort();
        assert_eq!(cached, ["b", "c", "d"]);
        assert!(
            store
                .state()
                .iter()
                .all(|t| t.metadata.managed_fields.is_none())
        );
        // "bad" and "a" are refused now; "worse" was deleted.
        assert_eq!(invalid.count("Task"), 2);
        let reported: Vec<String> = invalid.take().into_iter().map(|(k, _)| k.name).collect();
        assert_eq!(reported, ["a", "bad"]);
    }
}
