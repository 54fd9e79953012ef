//! A fast, deterministic hash map for name lookups (FxHash, as rustc uses).
//!
//! Names come from Kubernetes objects the cluster's own admins and users create;
//! the map only speeds up lookups within one cycle, so HashDoS resistance is not
//! worth SipHash's cost at 10,000 agents.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Builds [`FxHasher`]s.
pub(crate) type FxBuildHasher = BuildHasherDefault<FxHasher>;

/// Map from a borrowed name to an index.
pub(crate) type NameMap<'a> = HashMap<&'a str, usize, FxBuildHasher>;

/// A map with room for `capacity` names.
pub(crate) fn name_map<'a>(capacity: usize) -> NameMap<'a> {
    HashMap::with_capacity_and_hasher(capacity, BuildHasherDefault::default())
}

/// FxHash: rotate, xor, multiply, one word at a time.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinguishes_names() {
        let mut map = name_map(4);
        let names: Vec<String> = (0..1000).map(|i| format!("agent-{i:05}")).collect();
        for (i, name) in names.iter().enumerate() {
            assert!(map.insert(name.as_str(), i).is_none());
        }
        assert_eq!(map.len(), 1000);
        assert_eq!(map.get("agent-00999"), Some(&999));
        assert_eq!(map.get("agent-01000"), None);
    }
}
