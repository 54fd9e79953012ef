"""A scheduler speaking application/x-protobuf with Python's protobuf classes generated
from the vendored .proto files (PYTHONPATH=$VENV/mesos_pb).

Usage: protobuf_scheduler.py MASTER N. Launches N command tasks (run for 1 s on kwok)
and one with a custom executor (answered TASK_ERROR), acknowledges every update,
and prints a JSON record on its last line; exit 0 when all N finished.

protobuf_scheduler.py MASTER group: LAUNCH_GROUP of three task groups on one offer
(DEFAULT executor): "ok" (three tasks that finish), "bad" (two tasks whose pod exits 3)
and "long" (two tasks that run until one of them is killed); records every update of
every member, in order; exit 0 when all seven tasks are terminal.
"""

import http.client
import json
import re
import sys
import time

from mesos.v1 import mesos_pb2 as mesos
from mesos.v1.scheduler import scheduler_pb2 as scheduler

PROTOBUF = "application/x-protobuf"
TERMINAL = {mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR,
            mesos.TASK_LOST, mesos.TASK_DROPPED}


def group_main(host, port):
    record = {"updates": {}, "acked": 0, "unacked": 0}
    call = scheduler.Call(type=scheduler.Call.SUBSCRIBE)
    call.subscribe.framework_info.user = "root"
    call.subscribe.framework_info.name = "protobuf-groups"
    stream = http.client.HTTPConnection(host, int(port), timeout=60)
    stream.request("POST", "/api/v1/scheduler", call.SerializeToString(),
                   {"Content-Type": PROTOBUF, "Accept": PROTOBUF})
    response = stream.getresponse()
    assert response.status == 200, response.status
    stream_id = response.getheader("Mesos-Stream-Id")
    calls = http.client.HTTPConnection(host, int(port), timeout=10)
    framework_id = None
    groups = {"ok": (["ok-0", "ok-1", "ok-2"], [("kwok.mesos.operator.dev/run-for", "1s")]),
              "bad": (["bad-0", "bad-1"], [("kwok.mesos.operator.dev/run-for", "1s"),
                                           ("kwok.mesos.operator.dev/exit-code", "3")]),
              "long": (["long-0", "long-1"], [])}
    members = [t for ids, _ in groups.values() for t in ids]

    def post(message):
        calls.request("POST", "/api/v1/scheduler", message.SerializeToString(),
                      {"Content-Type": PROTOBUF, "Mesos-Stream-Id": stream_id})
        reply = calls.getresponse()
        reply.read()
        assert reply.status == 202, reply.status

    launched = killed = False
    buffer = b""
    deadline = time.time() + 120
    while time.time() < deadline:
        chunk = response.read1(65536)
        if not chunk:
            break
        buffer += chunk
        while True:
            match = re.match(rb"^(\d+)\n", buffer)
            if not match or len(buffer) < match.end() + int(match.group(1)):
                break
            start, length = match.end(), int(match.group(1))
            event = scheduler.Event()
            event.ParseFromString(buffer[start:start + length])
            buffer = buffer[start + length:]
            if event.type == scheduler.Event.SUBSCRIBED:
                framework_id = event.subscribed.framework_id
            elif event.type == scheduler.Event.OFFERS:
                for offer in event.offers.offers:
                    accept = scheduler.Call(type=scheduler.Call.ACCEPT)
                    accept.framework_id.CopyFrom(framework_id)
                    accept.accept.offer_ids.add().CopyFrom(offer.id)
                    if not launched:
                        launched = True
                        record["agent"] = offer.agent_id.value
                        for group, (ids, labels) in groups.items():
                            operation = accept.accept.operations.add(
                                type=mesos.Offer.Operation.LAUNCH_GROUP)
                            executor = operation.launch_group.executor
                            executor.type = mesos.ExecutorInfo.DEFAULT
                            executor.executor_id.value = "executor-" + group
                            executor.framework_id.CopyFrom(framework_id)
                            for name, value in (("cpus", 0.1), ("mem", 32)):
                                resource = executor.resources.add(name=name,
                                                                  type=mesos.Value.SCALAR)
                                resource.scalar.value = value
                            for task_id in ids:
                                task = operation.launch_group.task_group.tasks.add()
                                task.name = task.task_id.value = task_id
                                task.agent_id.CopyFrom(offer.agent_id)
                                task.command.value = "true"
                                for name, value in (("cpus", 0.01), ("mem", 8)):
                                    resource = task.resources.add(name=name,
                                                                  type=mesos.Value.SCALAR)
                                    resource.scalar.value = value
                                for key, value in labels:
                                    label = task.labels.labels.add()
                                    label.key, label.value = key, value
                    post(accept)
            elif event.type == scheduler.Event.UPDATE:
                status = event.update.status
                task_id = status.task_id.value
                record["updates"].setdefault(task_id, []).append(
                    mesos.TaskState.Name(status.state))
                if status.HasField("uuid"):
                    ack = scheduler.Call(type=scheduler.Call.ACKNOWLEDGE)
                    ack.framework_id.CopyFrom(framework_id)
                    ack.acknowledge.agent_id.CopyFrom(status.agent_id)
                    ack.acknowledge.task_id.CopyFrom(status.task_id)
                    ack.acknowledge.uuid = status.uuid
                    post(ack)
                    record["acked"] += 1
                else:
                    record["unacked"] += 1
                if task_id == "long-1" and status.state == mesos.TASK_RUNNING and not killed:
                    killed = True
                    kill = scheduler.Call(type=scheduler.Call.KILL)
                    kill.framework_id.CopyFrom(framework_id)
                    kill.kill.task_id.value = "long-1"
                    post(kill)
        finals = {t: u[-1] for t, u in record["updates"].items()}
        if all(finals.get(t) in {mesos.TaskState.Name(s) for s in TERMINAL} for t in members):
            record["framework_id"] = framework_id.value
            print(json.dumps(record), flush=True)
            return 0
    print(json.dumps(record), flush=True)
    return 1


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    if sys.argv[2] == "group":
        return group_main(host, port)
    count = int(sys.argv[2])
    record = {"final": {}, "content_type": None, "bad_launch": None}
    call = scheduler.Call(type=scheduler.Call.SUBSCRIBE)
    call.subscribe.framework_info.user = "root"
    call.subscribe.framework_info.name = "protobuf-client"
    call.subscribe.framework_info.failover_timeout = 30
    stream = http.client.HTTPConnection(host, int(port), timeout=60)
    stream.request("POST", "/api/v1/scheduler", call.SerializeToString(),
                   {"Content-Type": PROTOBUF, "Accept": PROTOBUF})
    response = stream.getresponse()
    assert response.status == 200, response.status
    record["content_type"] = response.getheader("Content-Type")
    stream_id = response.getheader("Mesos-Stream-Id")
    calls = http.client.HTTPConnection(host, int(port), timeout=10)
    framework_id = None

    def post(message):
        calls.request("POST", "/api/v1/scheduler", message.SerializeToString(),
                      {"Content-Type": PROTOBUF, "Mesos-Stream-Id": stream_id})
        reply = calls.getresponse()
        reply.read()
        assert reply.status == 202, reply.status

    pending = ["p-%d" % i for i in range(count)]
    bad_sent = False
    buffer = b""
    deadline = time.time() + 180
    while time.time() < deadline:
        chunk = response.read1(65536)
        if not chunk:
            break
        buffer += chunk
        while True:
            match = re.match(rb"^(\d+)\n", buffer)
            if not match or len(buffer) < match.end() + int(match.group(1)):
                break
            start, length = match.end(), int(match.group(1))
            event = scheduler.Event()
            event.ParseFromString(buffer[start:start + length])
            buffer = buffer[start + length:]
            if event.type == scheduler.Event.SUBSCRIBED:
                framework_id = event.subscribed.framework_id
            elif event.type == scheduler.Event.OFFERS:
                for offer in event.offers.offers:
                    accept = scheduler.Call(type=scheduler.Call.ACCEPT)
                    accept.framework_id.CopyFrom(framework_id)
                    accept.accept.offer_ids.add().CopyFrom(offer.id)
                    operation = accept.accept.operations.add(type=mesos.Offer.Operation.LAUNCH)
                    cpus = sum(r.scalar.value for r in offer.resources if r.name == "cpus")
                    while pending and cpus >= 0.01:
                        cpus -= 0.01
                        task = operation.launch.task_infos.add()
                        task.name = task.task_id.value = pending.pop(0)
                        task.agent_id.CopyFrom(offer.agent_id)
                        task.command.value = "true"
                        for name, value in (("cpus", 0.01), ("mem", 8)):
                            resource = task.resources.add(name=name, type=mesos.Value.SCALAR)
                            resource.scalar.value = value
                        label = task.labels.labels.add()
                        label.key, label.value = "kwok.mesos.operator.dev/run-for", "1s"
                    if not bad_sent:
                        bad_sent = True
                        task = operation.launch.task_infos.add()
                        task.name = task.task_id.value = "custom-executor"
                        task.agent_id.CopyFrom(offer.agent_id)
                        task.executor.executor_id.value = "e"
                        task.executor.command.value = "true"
                        for name, value in (("cpus", 0.01), ("mem", 8)):
                            resource = task.resources.add(name=name, type=mesos.Value.SCALAR)
                            resource.scalar.value = value
                    post(accept)
            elif event.type == scheduler.Event.UPDATE:
                status = event.update.status
                if status.task_id.value == "custom-executor":
                    record["bad_launch"] = mesos.TaskState.Name(status.state)
                else:
                    record["final"][status.task_id.value] = mesos.TaskState.Name(status.state)
                if status.HasField("uuid"):
                    ack = scheduler.Call(type=scheduler.Call.ACKNOWLEDGE)
                    ack.framework_id.CopyFrom(framework_id)
                    ack.acknowledge.agent_id.CopyFrom(status.agent_id)
                    ack.acknowledge.task_id.CopyFrom(status.task_id)
                    ack.acknowledge.uuid = status.uuid
                    post(ack)
        done = (not pending and len(record["final"]) == count
                and all(s == "TASK_FINISHED" for s in record["final"].values()))
        if done and record["bad_launch"]:
            teardown = scheduler.Call(type=scheduler.Call.TEARDOWN)
            teardown.framework_id.CopyFrom(framework_id)
            print(json.dumps(record), flush=True)
            return 0
    print(json.dumps(record), flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
