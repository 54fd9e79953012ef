"""A Mesos operator-API client speaking application/x-protobuf with Python's protobuf
classes generated from the vendored .proto files (PYTHONPATH=$VENV/mesos_pb).

Usage:
  operator_client.py MASTER state
      GET_STATE, GET_AGENTS, GET_FRAMEWORKS, GET_TASKS, GET_MASTER and GET_FLAGS;
      prints a JSON digest of the answers on its last line.
  operator_client.py MASTER subscribe SECONDS FINAL_TASK...
      SUBSCRIBE; records every event until each FINAL_TASK reached a terminal state and a
      framework was removed (or SECONDS passed); prints the events as a JSON digest.
      Prints "subscribed" on its first line once SUBSCRIBED arrived.
"""

import http.client
import json
import re
import sys
import time

from mesos.v1 import mesos_pb2 as mesos
from mesos.v1.master import master_pb2 as master

PROTOBUF = "application/x-protobuf"
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST",
            "TASK_DROPPED", "TASK_GONE"}


def state_name(value):
    return mesos.TaskState.Name(value)


def scalar(resources, name):
    return sum(r.scalar.value for r in resources if r.name == name)


def task_digest(task):
    return {
        "task_id": task.task_id.value,
        "framework_id": task.framework_id.value,
        "agent_id": task.agent_id.value,
        "state": state_name(task.state),
        "cpus": scalar(task.resources, "cpus"),
        "mem": scalar(task.resources, "mem"),
        "roles": sorted({r.allocation_info.role for r in task.resources}),
        "statuses": [state_name(s.state) for s in task.statuses],
    }


def framework_digest(fw):
    return {
        "id": fw.framework_info.id.value,
        "name": fw.framework_info.name,
        "user": fw.framework_info.user,
        "active": fw.active,
        "connected": fw.connected,
        "offers": len(fw.offers),
    }


def agent_digest(agent):
    return {
        "id": agent.agent_info.id.value,
        "hostname": agent.agent_info.hostname,
        "version": agent.version,
        "cpus": scalar(agent.total_resources, "cpus"),
        "allocated_cpus": scalar(agent.allocated_resources, "cpus"),
    }


def get_state_digest(state):
    return {
        "tasks": [task_digest(t) for t in state.get_tasks.tasks],
        "completed_tasks": [task_digest(t) for t in state.get_tasks.completed_tasks],
        "frameworks": [framework_digest(f) for f in state.get_frameworks.frameworks],
        "completed_frameworks": [framework_digest(f)
                                 for f in state.get_frameworks.completed_frameworks],
        "agents": [agent_digest(a) for a in state.get_agents.agents],
    }


def call(host, port, kind):
    connection = http.client.HTTPConnection(host, port, timeout=30)
    message = master.Call(type=kind)
    connection.request("POST", "/api/v1", message.SerializeToString(),
                       {"Content-Type": PROTOBUF, "Accept": PROTOBUF})
    reply = connection.getresponse()
    body = reply.read()
    assert reply.status == 200, (reply.status, body)
    assert reply.getheader("Content-Type") == PROTOBUF, reply.getheader("Content-Type")
    response = master.Response()
    response.ParseFromString(body)
    # Every proto2 required field is set, or ParseFromString would have accepted it
    # silently: IsInitialized checks them recursively.
    assert response.IsInitialized(), response.FindInitializationErrors()
    return response


def state(host, port):
    record = {}
    response = call(host, port, master.Call.GET_STATE)
    record["type"] = master.Response.Type.Name(response.type)
    record["state"] = get_state_digest(response.get_state)
    response = call(host, port, master.Call.GET_AGENTS)
    record["agents"] = [agent_digest(a) for a in response.get_agents.agents]
    response = call(host, port, master.Call.GET_FRAMEWORKS)
    record["frameworks"] = [framework_digest(f) for f in response.get_frameworks.frameworks]
    response = call(host, port, master.Call.GET_TASKS)
    record["tasks"] = [task_digest(t) for t in
                       list(response.get_tasks.tasks) + list(response.get_tasks.completed_tasks)]
    response = call(host, port, master.Call.GET_MASTER)
    record["master"] = {"version": response.get_master.master_info.version,
                        "port": response.get_master.master_info.port,
                        "start_time": response.get_master.start_time}
    response = call(host, port, master.Call.GET_FLAGS)
    record["flags"] = {f.name: f.value for f in response.get_flags.flags}
    print(json.dumps(record), flush=True)
    return 0


def subscribe(host, port, seconds, finals):
    connection = http.client.HTTPConnection(host, port, timeout=60)
    message = master.Call(type=master.Call.SUBSCRIBE)
    connection.request("POST", "/api/v1", message.SerializeToString(),
                       {"Content-Type": PROTOBUF, "Accept": PROTOBUF})
    response = connection.getresponse()
    assert response.status == 200, response.status
    record = {"content_type": response.getheader("Content-Type"), "events": [],
              "subscribed": None, "final": {}}
    buffer = b""
    deadline = time.time() + seconds
    removed = False
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
            event = master.Event()
            event.ParseFromString(buffer[start:start + length])
            assert event.IsInitialized(), event.FindInitializationErrors()
            buffer = buffer[start + length:]
            kind = master.Event.Type.Name(event.type)
            entry = {"type": kind}
            if event.type == master.Event.SUBSCRIBED:
                record["subscribed"] = get_state_digest(event.subscribed.get_state)
                record["heartbeat_interval_seconds"] = \
                    event.subscribed.heartbeat_interval_seconds
                print("subscribed", flush=True)
            elif event.type == master.Event.TASK_ADDED:
                entry["task"] = task_digest(event.task_added.task)
            elif event.type == master.Event.TASK_UPDATED:
                update = event.task_updated
                entry["task_id"] = update.status.task_id.value
                entry["framework_id"] = update.framework_id.value
                entry["state"] = state_name(update.state)
                entry["status_state"] = state_name(update.status.state)
                if entry["state"] in TERMINAL:
                    record["final"][entry["task_id"]] = entry["state"]
            elif event.type == master.Event.FRAMEWORK_ADDED:
                entry["framework"] = framework_digest(event.framework_added.framework)
            elif event.type == master.Event.FRAMEWORK_UPDATED:
                entry["framework"] = framework_digest(event.framework_updated.framework)
            elif event.type == master.Event.FRAMEWORK_REMOVED:
                entry["framework_id"] = event.framework_removed.framework_info.id.value
                entry["name"] = event.framework_removed.framework_info.name
                removed = True
            elif event.type == master.Event.AGENT_ADDED:
                entry["agent_id"] = event.agent_added.agent.agent_info.id.value
            elif event.type == master.Event.AGENT_REMOVED:
                entry["agent_id"] = event.agent_removed.agent_id.value
            record["events"].append(entry)
        if removed and all(t in record["final"] for t in finals):
            print(json.dumps(record), flush=True)
            return 0
    print(json.dumps(record), flush=True)
    return 1


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    port = int(port)
    if sys.argv[2] == "state":
        return state(host, port)
    return subscribe(host, port, float(sys.argv[3]), sys.argv[4:])


if __name__ == "__main__":
    sys.exit(main())
