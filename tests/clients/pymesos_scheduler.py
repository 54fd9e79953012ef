"""A pymesos 0.3.15 scheduler driven by the scheduler-API end-to-end tests.

Usage: pymesos_scheduler.py MASTER MODE [ARGS…]; prints one JSON object (the run's
record) on its last stdout line and exits 0 when the scenario completed.

Modes:
  batch N      Declines the first offers (refuse_seconds 1), launches N short tasks
               (one of them exits 3), one long task; reconciles explicitly (a finished
               task and an unknown one) and implicitly (the long task), suppresses
               while tasks run and revives at the end, kills the long task.
  start N      Launches N tasks that run for 8 s; stops (failover, no teardown) once
               they all run; records the framework id.
  run N        Launches N tasks that run for 1 s; done when all are terminal.
  resume ID    Re-subscribes with framework id ID; waits until the tasks it reconciles
               finish.
"""

import json
import os
import sys
import threading
import time

from pymesos import MesosSchedulerDriver, Scheduler

TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST",
            "TASK_DROPPED", "TASK_GONE"}


def resources(cpus, mem):
    return [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
    ]


def scalar(offer, name):
    return sum(r["scalar"]["value"] for r in offer["resources"] if r["name"] == name)


class Batch(Scheduler):
    def __init__(self, mode, count, lock):
        self.mode = mode
        self.lock = lock
        self.record = {"mode": mode, "offers": 0, "declined": [], "offer_ids": [],
                       "final": {}, "updates": 0, "reconcile": {}, "implicit": [],
                       "offers_after_revive": 0, "errors": [], "kill_sent": False}
        self.pending = []
        if mode == "batch":
            for i in range(count):
                labels = {"kwok.mesos.operator.dev/run-for": "1s"}
                if i == 0:
                    labels["kwok.mesos.operator.dev/exit-code"] = "3"
                self.pending.append(("t-%d" % i, labels))
            self.pending.append(("long", {"kwok.mesos.operator.dev/run-for": "1h"}))
        elif mode == "run":
            for i in range(count):
                self.pending.append(("r-%d" % i, {"kwok.mesos.operator.dev/run-for": "1s"}))
        elif mode == "start":
            for i in range(count):
                self.pending.append(("f-%d" % i, {"kwok.mesos.operator.dev/run-for": "8s"}))
        self.launched = set()
        self.labels = {}
        self.retries = {}
        self.state = {}
        self.declined_once = mode != "batch"
        self.suppressed = False
        self.revived = False
        self.reconciled = False
        self.implicit_asked = False
        self.done = threading.Event()
        self.framework_id = None

    def registered(self, driver, framework_id, master_info):
        self.framework_id = framework_id["value"]
        self.record["framework_id"] = self.framework_id
        if self.mode == "resume":
            driver.reconcileTasks([])

    def reregistered(self, driver, master_info):
        # pymesos calls this (not registered) when it subscribed with an id.
        self.framework_id = driver.framework_id
        self.record["framework_id"] = self.framework_id
        if self.mode == "resume":
            driver.reconcileTasks([])

    def error(self, driver, message):
        self.record["errors"].append(message)

    def resourceOffers(self, driver, offers):
        with self.lock:
            self.record["offers"] += len(offers)
            for offer in offers:
                self.record["offer_ids"].append(offer["id"]["value"])
            if self.mode == "resume":
                driver.declineOffer([o["id"] for o in offers], {"refuse_seconds": 60})
                return
            if self.revived:
                self.record["offers_after_revive"] += len(offers)
                driver.declineOffer([o["id"] for o in offers], {"refuse_seconds": 60})
                if self.record["offers_after_revive"] and self.finished_all():
                    self.done.set()
                return
            if not self.declined_once:
                self.declined_once = True
                self.record["declined"] = [o["id"]["value"] for o in offers]
                driver.declineOffer([o["id"] for o in offers], {"refuse_seconds": 1})
                return
            for offer in offers:
                cpus, mem = scalar(offer, "cpus"), scalar(offer, "mem")
                tasks = []
                while self.pending and cpus >= 0.01 and mem >= 8 and len(tasks) < 50:
                    task_id, labels = self.pending.pop(0)
                    cpus -= 0.01
                    mem -= 8
                    tasks.append({
                        "task_id": {"value": task_id},
                        "agent_id": offer["agent_id"],
                        "name": task_id,
                        "command": {"value": "echo %s" % task_id},
                        "resources": resources(0.01, 8),
                        "labels": {"labels": [{"key": k, "value": v} for k, v in labels.items()]},
                    })
                    self.launched.add(task_id)
                    self.labels[task_id] = labels
                if tasks:
                    driver.launchTasks(offer["id"], tasks, {"refuse_seconds": 1})
                else:
                    driver.declineOffer([offer["id"]], {"refuse_seconds": 1})
            if not self.pending and not self.suppressed and self.mode == "batch":
                self.suppressed = True
                driver.suppressOffers()
                self.record["suppressed_at_offers"] = self.record["offers"]

    def statusUpdate(self, driver, update):
        with self.lock:
            task_id = update["task_id"]["value"]
            state = update["state"]
            reason = update.get("reason", "")
            if reason == "REASON_RECONCILIATION":
                if self.implicit_asked and task_id.split(".")[0] == "long":
                    self.record["implicit"].append(state)
                elif self.mode == "resume":
                    self.state[task_id] = state
                else:
                    # Recorded under the base id (t-1 for any attempt of it).
                    self.record["reconcile"][task_id.split(".")[0]] = state
            elif (reason == "REASON_INVALID_OFFERS" and state in ("TASK_LOST", "TASK_ERROR")
                  and task_id in self.labels):
                # The offer was rescinded under the launch: launch it again, as a
                # framework does, under a new id.
                self.record["updates"] += 1
                self.record.setdefault("relaunched", 0)
                self.record["relaunched"] += 1
                # Refused at ACCEPT, the update is the master's own: Mesos sends it
                # without a uuid and it is never acknowledged. (A task created and then
                # found on a vanished offer gets a regular update, with a uuid.)
                if "uuid" not in update:
                    self.record.setdefault("master_updates", 0)
                    self.record["master_updates"] += 1
                self.launched.discard(task_id)
                base = task_id.split(".")[0]
                attempt = self.retries.get(base, 0) + 1
                self.retries[base] = attempt
                self.pending.append(("%s.%d" % (base, attempt), self.labels[task_id]))
                if self.suppressed:
                    self.suppressed = False
                    driver.reviveOffers()
            else:
                self.record["updates"] += 1
                self.state[task_id] = state
            if self.mode == "resume":
                self.launched.add(task_id)
            if reason != "REASON_RECONCILIATION" and "uuid" in update:
                self.record.setdefault("acked", 0)
                self.record["acked"] += 1
            self.step(driver)

    def finished_all(self):
        return all(self.state.get(t) in TERMINAL for t in self.launched) and not self.pending

    def step(self, driver):
        if self.mode == "start":
            if not self.pending and all(self.state.get(t) == "TASK_RUNNING" for t in self.launched):
                self.done.set()
            return
        if self.mode == "run":
            if self.finished_all():
                self.done.set()
            return
        if self.mode == "resume":
            if self.launched and self.finished_all():
                self.done.set()
            return
        long_id = next((t for t in self.launched if t.split(".")[0] == "long"), "long")
        short = [t for t in self.launched if t != long_id]
        short_done = not self.pending and all(self.state.get(t) in TERMINAL for t in short)
        if short_done and not self.reconciled:
            self.reconciled = True
            # t-1 as it runs now: if its first launch met a vanished offer, it was
            # relaunched under a new id, and the original rightly stays TASK_LOST/ERROR.
            # (A relaunch replaces the id in `launched`: one attempt of t-1 is there.)
            t1 = next((t for t in self.launched if t.split(".")[0] == "t-1"), "t-1")
            driver.reconcileTasks([{"task_id": {"value": t1}}, {"task_id": {"value": "ghost"}}])
        if (short_done and self.state.get(long_id) == "TASK_RUNNING"
                and "ghost" in self.record["reconcile"] and not self.implicit_asked):
            self.implicit_asked = True
            driver.reconcileTasks([])
        if self.record["implicit"] and not self.record["kill_sent"]:
            self.record["kill_sent"] = True
            driver.killTask({"value": long_id})
        if self.finished_all() and not self.revived:
            self.revived = True
            driver.reviveOffers()


def main():
    master, mode = sys.argv[1], sys.argv[2]
    arg = sys.argv[3] if len(sys.argv) > 3 else "0"
    lock = threading.RLock()
    scheduler = Batch(mode, int(arg) if mode != "resume" else 0, lock)
    framework = {"user": "root", "name": "pymesos-" + mode, "hostname": "localhost",
                 "failover_timeout": 60.0}
    if mode == "resume":
        framework["id"] = {"value": arg}
    kwargs = {}
    if os.environ.get("MESOS_PRINCIPAL"):
        kwargs = {"principal": os.environ["MESOS_PRINCIPAL"], "secret": os.environ["MESOS_SECRET"]}
        framework["principal"] = os.environ["MESOS_PRINCIPAL"]
    driver = MesosSchedulerDriver(scheduler, framework, master, use_addict=False,
                                  implicit_acknowledgements=True, **kwargs)
    started = time.time()
    driver.start()
    ok = scheduler.done.wait(float(os.environ.get("SCENARIO_TIMEOUT", "240")))
    with lock:
        scheduler.record["seconds"] = time.time() - started
        # The last attempt of each task, by its first id.
        final = {}
        for task_id in sorted(scheduler.launched, key=lambda t: (t.split(".")[0], len(t), t)):
            final[task_id.split(".")[0]] = scheduler.state.get(task_id)
        scheduler.record["final"] = final
        scheduler.record["completed"] = ok
    # Failover, not teardown: the framework and its tasks stay.
    driver.stop(failover=True)
    driver.join()
    print(json.dumps(scheduler.record), flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
