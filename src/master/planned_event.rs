//! An Event a pure decision asks for; the reconciler records it on the object.

/// Whether the Event is `Normal` or `Warning`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventSeverity {
    /// A transition people care about.
    Normal,
    /// Something went wrong, or needs attention.
    Warning,
}

/// An Event to record on the object a decision was made for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedEvent {
    /// `Normal` or `Warning`.
    pub severity: EventSeverity,
    /// The reason, in UpperCamelCase (`Registered`, `TornDown`).
    pub reason: &'static str,
    /// What happened, in a sentence.
    pub note: String,
    /// The action taken (`Register`, `Teardown`).
    pub action: &'static str,
}

impl PlannedEvent {
    /// A `Normal` Event.
    pub fn normal(reason: &'static str, note: String, action: &'static str) -> Self {
        Self {
            severity: EventSeverity::Normal,
            reason,
            note,
            action,
        }
    }

    /// A `Warning` Event.
    pub fn warning(reason: &'static str, note: String, action: &'static str) -> Self {
        Self {
            severity: EventSeverity::Warning,
            reason,
            note,
            action,
        }
    }
}
