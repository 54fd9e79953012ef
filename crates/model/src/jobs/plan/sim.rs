//! A simulated namespace for the planner's tests: jobs with their ledgers, Tasks as the API
//! server would hold them, and a reconcile that applies a plan the way the controller
//! must (ledger first, then creates — idempotent by name — kills and deletes).

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::{JobPlan, ObservedTask, PlanInput, TaskPhase, plan};
use crate::jobs::dag::{GraphAnalysis, GraphView, JobNode};
use crate::jobs::ledger::Ledger;
use crate::jobs::spec::JobSpec;
pub use crate::jobs::test_support::{secs, ts};

/// Jobs, their ledgers and their Tasks.
#[derive(Debug, Clone, Default)]
pub struct World {
    pub specs: BTreeMap<String, JobSpec>,
    pub ledgers: BTreeMap<String, Ledger>,
    /// Task name → (owning job, task).
    pub tasks: BTreeMap<String, (String, ObservedTask)>,
    /// Every create the plans asked for, in order (with repeats).
    pub creates: Vec<String>,
}

impl World {
    pub fn add(&mut self, spec: JobSpec) {
        self.ledgers.entry(spec.name.clone()).or_default();
        self.specs.insert(spec.name.clone(), spec);
    }

    pub fn graph(&self) -> GraphView {
        let jobs = self
            .specs
            .iter()
            .map(|(name, spec)| {
                let last_good = self.ledgers.get(name).and_then(|l| l.last_good.clone());
                (
                    name.clone(),
                    JobNode {
                        parents: spec.parents.clone(),
                        last_good,
                    },
                )
            })
            .collect();
        GraphView { jobs }
    }

    pub fn tasks_of(&self, job: &str) -> Vec<ObservedTask> {
        self.tasks
            .values()
            .filter(|(owner, _)| owner == job)
            .map(|(_, t)| t.clone())
            .collect()
    }

    /// One reconcile of `job` at `now`, applied.
    pub fn reconcile(&mut self, job: &str, now: Timestamp) -> JobPlan {
        let graph = self.graph();
        let analysis = GraphAnalysis::new(&graph);
        let tasks = self.tasks_of(job);
        let spec = self.specs.get(job).unwrap().clone();
        let ledger = self.ledgers.get(job).cloned().unwrap_or_default();
        let plan = plan(PlanInput {
            spec: &spec,
            ledger: &ledger,
            tasks: &tasks,
            graph: &graph,
            analysis: &analysis,
            now,
        });
        self.apply(job, &plan, now);
        plan
    }

    pub fn apply(&mut self, job: &str, plan: &JobPlan, now: Timestamp) {
        self.ledgers.insert(job.to_string(), plan.ledger.clone());
        for create in &plan.create {
            self.creates.push(create.name.clone());
            self.tasks.entry(create.name.clone()).or_insert_with(|| {
                let task = ObservedTask {
                    name: create.name.clone(),
                    phase: TaskPhase::Pending,
                    exit_code: None,
                    finished_at: None,
                };
                (job.to_string(), task)
            });
        }
        for kill in &plan.kill {
            self.finish(&kill.name, TaskPhase::Killed, now);
        }
        for name in &plan.delete {
            self.tasks.remove(name);
        }
    }

    /// Ends a non-terminal Task with `phase` at `at`.
    pub fn finish(&mut self, task: &str, phase: TaskPhase, at: Timestamp) {
        if let Some((_, t)) = self.tasks.get_mut(task)
            && matches!(t.phase, TaskPhase::Pending | TaskPhase::Running)
        {
            t.phase = phase;
            t.exit_code = Some(if phase == TaskPhase::Succeeded { 0 } else { 1 });
            t.finished_at = Some(at);
        }
    }

    /// The non-terminal Tasks of `job`.
    pub fn running(&self, job: &str) -> Vec<String> {
        self.tasks_of(job)
            .into_iter()
            .filter(|t| matches!(t.phase, TaskPhase::Pending | TaskPhase::Running))
            .map(|t| t.name)
            .collect()
    }
}
