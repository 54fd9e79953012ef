//! What constraints read from a node: its name and its labels.

use std::collections::BTreeMap;

use super::Field;

/// A node as constraints see it. The allocator can implement this for its own node type;
/// [`NodeAttributes`] is a plain owned one.
pub trait Attributes {
    /// The node's name (the `hostname` field).
    fn hostname(&self) -> &str;
    /// The value of one of the node's labels.
    fn label(&self, key: &str) -> Option<&str>;

    /// The value a constraint's field has on this node; `None` when the label is missing.
    fn value_of(&self, field: &Field) -> Option<&str> {
        match field.label_key() {
            None => Some(self.hostname()),
            Some(key) => self.label(key),
        }
    }
}

/// A node's name and labels, owned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NodeAttributes {
    /// The node's name.
    pub hostname: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

impl NodeAttributes {
    /// A node with a name and labels.
    pub fn new<'a>(hostname: &str, labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            hostname: hostname.to_string(),
            labels: labels
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

impl Attributes for NodeAttributes {
    fn hostname(&self) -> &str {
        &self.hostname
    }

    fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

impl<A: Attributes + ?Sized> Attributes for &A {
    fn hostname(&self) -> &str {
        (**self).hostname()
    }

    fn label(&self, key: &str) -> Option<&str> {
        (**self).label(key)
    }
}
