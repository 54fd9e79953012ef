//! A segment tree of per-agent room (free scalars and pod slots) in visiting order,
//! each inner node holding the per-dimension maximum of its subtree.
//!
//! It answers "the first agent at or after position `start` whose room may satisfy
//! a monotone predicate" in about `O(log agents)`: a subtree whose maximum fails
//! the predicate cannot hold a matching agent and is skipped. This is what keeps
//! first-fit placement and offer cursors cheap at 10,000 agents.

use super::scalars::Scalars;

/// What an agent can still give: free scalar resources and pod slots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Room {
    /// Free scalar resources.
    pub(crate) free: Scalars,
    /// How many more pods the agent accepts.
    pub(crate) pods: u32,
}

impl Room {
    fn max_each(&self, other: &Room) -> Room {
        Room {
            free: self.free.max_each(&other.free),
            pods: self.pods.max(other.pods),
        }
    }
}

/// Max-segment tree over agent positions.
#[derive(Clone, Debug, Default)]
pub(crate) struct MaxTree {
    /// Number of real positions.
    len: usize,
    /// Number of leaves: a power of two (padding leaves hold no room).
    width: usize,
    /// 1-based heap layout: node `n` has children `2n` and `2n + 1`; leaf `i` is
    /// node `width + i`. Node 0 is unused. Empty while `len` is zero.
    nodes: Vec<Room>,
}

impl MaxTree {
    /// A tree over `rooms`, position `i` holding `rooms[i]`.
    #[cfg(test)]
    pub(crate) fn new(rooms: impl ExactSizeIterator<Item = Room>) -> MaxTree {
        let mut tree = MaxTree::default();
        tree.rebuild(rooms);
        tree
    }

    /// Makes this the tree over `rooms`, reusing its memory.
    pub(crate) fn rebuild(&mut self, rooms: impl ExactSizeIterator<Item = Room>) {
        self.len = rooms.len();
        self.nodes.clear();
        if self.len == 0 {
            self.width = 0;
            return;
        }
        self.width = self.len.next_power_of_two();
        self.nodes.resize(2 * self.width, Room::default());
        for (slot, room) in self.nodes[self.width..].iter_mut().zip(rooms) {
            *slot = room;
        }
        for node in (1..self.width).rev() {
            self.nodes[node] = self.nodes[2 * node].max_each(&self.nodes[2 * node + 1]);
        }
    }

    /// The per-dimension maximum over all positions.
    pub(crate) fn most(&self) -> Room {
        self.nodes.get(1).copied().unwrap_or_default()
    }

    /// Sets the room at `position` (ignored when out of range).
    pub(crate) fn set(&mut self, position: usize, room: Room) {
        if position >= self.len {
            return;
        }
        let mut node = self.width + position;
        self.nodes[node] = room;
        while node > 1 {
            node /= 2;
            let merged = self.nodes[2 * node].max_each(&self.nodes[2 * node + 1]);
            if self.nodes[node] == merged {
                break;
            }
            self.nodes[node] = merged;
        }
    }

    /// The first position `>= start` whose room satisfies `accepts`, where
    /// `accepts` must be monotone: if it accepts a room, it accepts every larger
    /// one (it is evaluated on subtree maxima to prune).
    ///
    /// Iterative: from the leaf at `start`, it visits ever larger blocks to the
    /// right until one may hold a match, then descends into it, leftmost child
    /// first. A block whose maximum passes but holds no match (the maximum mixes
    /// dimensions of different agents) is left again to the right.
    #[inline]
    pub(crate) fn first_from(
        &self,
        start: usize,
        accepts: impl Fn(&Room) -> bool,
    ) -> Option<usize> {
        if start >= self.len {
            return None;
        }
        let mut node = self.width + start;
        loop {
            if accepts(&self.nodes[node]) {
                if node >= self.width {
                    let position = node - self.width;
                    return (position < self.len).then_some(position);
                }
                node *= 2;
                continue;
            }
            // Next block to the right: climb while `node` is a right child.
            while node & 1 == 1 {
                if node == 1 {
                    return None;
                }
                node /= 2;
            }
            node += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(cpus: u64, pods: u32) -> Room {
        Room {
            free: Scalars([cpus, 0, 0, 0]),
            pods,
        }
    }

    #[test]
    fn finds_first_fit_from_a_start() {
        let mut tree = MaxTree::new([1, 5, 2, 7, 3].into_iter().map(|c| room(c, 1)));
        let fits = |need: u64| move |r: &Room| r.free.0[0] >= need && r.pods > 0;
        assert_eq!(tree.first_from(0, fits(4)), Some(1));
        assert_eq!(tree.first_from(2, fits(4)), Some(3));
        assert_eq!(tree.first_from(4, fits(4)), None);
        assert_eq!(tree.first_from(9, fits(0)), None);
        assert_eq!(tree.first_from(0, fits(8)), None);
        tree.set(1, room(5, 0));
        assert_eq!(tree.first_from(0, fits(4)), Some(3));
        tree.set(3, room(0, 1));
        assert_eq!(tree.first_from(0, fits(4)), None);
        assert_eq!(tree.most(), room(5, 1));
        let empty = MaxTree::new(std::iter::empty());
        assert_eq!(empty.first_from(0, |_| true), None);
        assert_eq!(tree.first_from(0, |_| true), Some(0));
        assert_eq!(tree.first_from(5, |_| true), None);
        assert_eq!(empty.most(), Room::default());
    }

    proptest::proptest! {
        #[test]
        fn matches_a_linear_scan(
            rooms in proptest::collection::vec((0u64..8, 0u64..8, 0u32..2), 0..40),
            updates in proptest::collection::vec((0usize..40, 0u64..8, 0u64..8, 0u32..2), 0..10),
            start in 0usize..45,
            need in (0u64..8, 0u64..8),
        ) {
            let room = |(cpus, mem, pods): (u64, u64, u32)| Room { free: Scalars([cpus, mem, 0, 0]), pods };
            let mut rooms: Vec<Room> = rooms.into_iter().map(room).collect();
            let mut tree = MaxTree::new(rooms.iter().copied());
            for (position, cpus, mem, pods) in updates {
                if position < rooms.len() {
                    rooms[position] = room((cpus, mem, pods));
                    tree.set(position, rooms[position]);
                }
            }
            // Two dimensions: subtree maxima may pass where no single leaf does.
            let accepts = |r: &Room| r.pods > 0 && r.free.0[0] >= need.0 && r.free.0[1] >= need.1;
            let expected = rooms.iter().enumerate().skip(start).find(|(_, r)| accepts(r)).map(|(i, _)| i);
            proptest::prop_assert_eq!(tree.first_from(start, accepts), expected);
        }
    }
}
