"""A Mesos framework that declines every offer (JSON, http.client) for SECONDS and prints
how many offers it was sent: the offer churn of bench/scheduler-api.sh's writes-per-offer
figure.

Usage: offer_churn.py MASTER SECONDS REFUSE_SECONDS
"""

import http.client
import json
import re
import sys
import time


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    seconds, refuse = float(sys.argv[2]), float(sys.argv[3])
    body = json.dumps({"type": "SUBSCRIBE", "subscribe": {"framework_info": {
        "user": "root", "name": "offer-churn"}}})
    stream = http.client.HTTPConnection(host, int(port), timeout=60)
    stream.request("POST", "/api/v1/scheduler", body,
                   {"Content-Type": "application/json", "Accept": "application/json"})
    response = stream.getresponse()
    assert response.status == 200, response.status
    stream_id = response.getheader("Mesos-Stream-Id")
    calls = http.client.HTTPConnection(host, int(port), timeout=10)
    framework_id, offers, agents, rescinds = None, 0, set(), 0
    buffer = b""
    deadline = time.time() + seconds
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
            event = json.loads(buffer[start:start + length])
            buffer = buffer[start + length:]
            if event["type"] == "SUBSCRIBED":
                framework_id = event["subscribed"]["framework_id"]
            elif event["type"] == "RESCIND":
                rescinds += 1
            elif event["type"] == "OFFERS":
                ids = [o["id"] for o in event["offers"]["offers"]]
                offers += len(ids)
                agents.update(o["agent_id"]["value"] for o in event["offers"]["offers"])
                decline = {"type": "DECLINE", "framework_id": framework_id, "decline": {
                    "offer_ids": ids, "filters": {"refuse_seconds": refuse}}}
                calls.request("POST", "/api/v1/scheduler", json.dumps(decline),
                              {"Content-Type": "application/json",
                               "Mesos-Stream-Id": stream_id})
                reply = calls.getresponse()
                reply.read()
                assert reply.status == 202, reply.status
    print(json.dumps({"offers": offers, "agents": len(agents), "rescinds": rescinds}),
          flush=True)


if __name__ == "__main__":
    main()
