//! Catch-up after downtime: which due slots run now, which are skipped and why.
//!
//! The ledger keeps the latest slot already accounted for (run, skipped or pending). When
//! the controller looks again at `now`, every slot in `(last accounted, now]` is *due*, and
//! every due slot is either run or skipped with a reason — exactly once, so nothing is
//! forgotten in silence (Chronos and Kubernetes' CronJob collapse missed slots without a
//! trace) and nothing is replayed (the ledger moves past the latest due slot).
//!
//! In order:
//!
//! 1. **Starting deadline.** A due slot older than `startingDeadline` when noticed is
//!    skipped (`StartingDeadline`), whatever the policy.
//! 2. **Policy.**
//!    - `None`: only a slot noticed on time runs — the latest due slot, if it is at most the
//!      starting deadline old (or [`DEFAULT_ON_TIME`] when there is none). Every other due
//!      slot is skipped (`CatchUpPolicy`). After downtime, nothing missed runs.
//!    - `Latest`: the latest due slot runs however late (within the deadline); older ones
//!      are skipped. This is what Chronos and CronJob do, but recorded.
//!    - `All { window, max }`: every due slot at most `window` old runs, the latest `max` of
//!      them; older ones are skipped (`CatchUpPolicy`) and those beyond the `max` latest too
//!      (`OverMax`).
//!
//! Skipped slots come back as contiguous spans (first, last, count), since a long downtime
//! with a short period can miss millions of them.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::schedule::{Schedule, SlotCount};

/// How late a slot may be noticed and still count as on time under [`CatchUpPolicy::None`]
/// when the job sets no starting deadline.
pub const DEFAULT_ON_TIME: SignedDuration = SignedDuration::from_secs(60);

/// Counting the slots of a skipped span stops here (cron spans are counted one by one).
pub const SKIP_COUNT_CAP: u64 = 10_000;

/// What to do with slots that came due while nobody was looking.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub enum CatchUpPolicy {
    /// Skip every slot not noticed on time.
    None,
    /// Run only the latest due slot.
    #[default]
    Latest,
    /// Run every due slot at most `window` old, at most `max` of them (the latest).
    All {
        /// How far back slots are still run.
        window: SignedDuration,
        /// How many slots at most one catch-up runs.
        max: u32,
    },
}

/// Why a slot (or a span of slots) was not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SkipReason {
    /// Older than the starting deadline when noticed.
    StartingDeadline,
    /// The catch-up policy does not run it (not the latest, not on time, outside the window).
    CatchUpPolicy,
    /// Beyond the `max` latest slots of `All`.
    OverMax,
    /// `concurrencyPolicy: Forbid` and a run was in flight.
    ConcurrencyForbid,
    /// `concurrencyPolicy: Replace` and a later slot due at the same time replaces it.
    Replaced,
    /// The job was suspended.
    Suspended,
    /// The job was disabled after too many failures.
    Disabled,
    /// The job's dependencies are broken (missing parent, cycle).
    Blocked,
    /// The slot waited for its parents and a later slot came due first.
    Superseded,
}

/// A contiguous span of skipped slots, all for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedSlots {
    /// Why they were skipped.
    pub reason: SkipReason,
    /// The first skipped slot.
    pub first: Timestamp,
    /// The last skipped slot.
    pub last: Timestamp,
    /// How many slots the span holds.
    pub count: SlotCount,
}

impl SkippedSlots {
    /// The skipped slots of `schedule` in `(after, through]`, or `None` when there are none.
    pub fn span(
        schedule: &Schedule,
        after: Timestamp,
        through: Timestamp,
        reason: SkipReason,
    ) -> Option<Self> {
        let first = schedule
            .next_after(after)
            .filter(|first| *first <= through)?;
        let last = schedule.latest_in(after, through)?;
        let count = schedule.count_in(after, through, SKIP_COUNT_CAP);
        Some(SkippedSlots {
            reason,
            first,
            last,
            count,
        })
    }

    /// One skipped slot.
    pub fn single(slot: Timestamp, reason: SkipReason) -> Self {
        SkippedSlots {
            reason,
            first: slot,
            last: slot,
            count: SlotCount::Exact(1),
        }
    }
}

/// What the catch-up decision needs.
#[derive(Debug, Clone, Copy)]
pub struct CatchUpInput<'a> {
    /// The job's schedule.
    pub schedule: &'a Schedule,
    /// Slots at or before this are already accounted for (exclusive lower bound).
    pub after: Timestamp,
    /// The current time.
    pub now: Timestamp,
    /// The job's catch-up policy.
    pub policy: CatchUpPolicy,
    /// The job's starting deadline.
    pub starting_deadline: Option<SignedDuration>,
}

/// The catch-up decision.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CatchUpPlan {
    /// Slots to run now, increasing, all after `after`.
    pub run: Vec<Timestamp>,
    /// Due slots not run, in time order.
    pub skipped: Vec<SkippedSlots>,
    /// The new "accounted through" mark: the latest due slot, `None` when nothing was due.
    pub accounted_through: Option<Timestamp>,
    /// The next slot to wake for (after `now`).
    pub next_slot: Option<Timestamp>,
}

/// Decides which due slots run; see the module docs.
pub fn plan_catch_up(input: CatchUpInput<'_>) -> CatchUpPlan {
    let CatchUpInput {
        schedule,
        after,
        now,
        policy,
        starting_deadline,
    } = input;
    let next_slot = schedule.next_after(now.max(after));
    let Some(latest) = schedule.latest_in(after, now) else {
        return CatchUpPlan {
            next_slot,
            ..CatchUpPlan::default()
        };
    };
    let plan = CatchUpPlan {
        accounted_through: Some(latest),
        next_slot,
        ..CatchUpPlan::default()
    };
    let mut due = Due {
        schedule,
        now,
        latest,
        floor: after,
        plan,
    };
    if let Some(deadline) = starting_deadline {
        due.skip_older_than(deadline, SkipReason::StartingDeadline);
    }
    match policy {
        CatchUpPolicy::None => {
            let grace = starting_deadline.unwrap_or(DEFAULT_ON_TIME);
            let on_time = latest > due.floor && now.duration_since(latest) <= grace;
            due.skip_through(
                if on_time { before(latest) } else { latest },
                SkipReason::CatchUpPolicy,
            );
            if on_time {
                due.plan.run.push(latest);
            }
        }
        CatchUpPolicy::Latest => {
            if latest > due.floor {
                due.skip_through(before(latest), SkipReason::CatchUpPolicy);
                due.plan.run.push(latest);
            }
        }
        CatchUpPolicy::All { window, max } => {
            due.skip_older_than(window, SkipReason::CatchUpPolicy);
            due.plan.run = latest_slots(schedule, due.floor, latest, max);
            let over = due.plan.run.first().map_or(latest, |first| before(*first));
            due.skip_through(over, SkipReason::OverMax);
        }
    }
    due.plan
}

/// The due slots still to decide on: those in `(floor, latest]`.
struct Due<'a> {
    schedule: &'a Schedule,
    now: Timestamp,
    latest: Timestamp,
    floor: Timestamp,
    plan: CatchUpPlan,
}

impl Due<'_> {
    /// Skips the undecided slots up to `through` and raises the floor past them.
    fn skip_through(&mut self, through: Timestamp, reason: SkipReason) {
        let through = through.min(self.latest);
        if through > self.floor {
            self.plan.skipped.extend(SkippedSlots::span(
                self.schedule,
                self.floor,
                through,
                reason,
            ));
            self.floor = through;
        }
    }

    /// Skips the undecided slots older than `age` (strictly: `now - slot > age`).
    fn skip_older_than(&mut self, age: SignedDuration, reason: SkipReason) {
        self.skip_through(
            self.now.checked_sub(age).map_or(Timestamp::MIN, before),
            reason,
        );
    }
}

/// Up to `max` of the latest slots in `(floor, latest]`, increasing.
fn latest_slots(
    schedule: &Schedule,
    floor: Timestamp,
    latest: Timestamp,
    max: u32,
) -> Vec<Timestamp> {
    let mut slots = Vec::new();
    let mut through = latest;
    while slots.len() < max as usize {
        let Some(slot) = schedule.latest_in(floor, through) else {
            break;
        };
        slots.push(slot);
        through = before(slot);
    }
    slots.reverse();
    slots
}

/// The instant just before `t` (one nanosecond earlier).
pub(crate) fn before(t: Timestamp) -> Timestamp {
    t.checked_sub(SignedDuration::from_nanos(1))
        .unwrap_or(Timestamp::MIN)
}

#[cfg(test)]
mod tests;
