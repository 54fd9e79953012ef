#!/usr/bin/env python3
"""kube-apiserver (and etcd) CPU per Task write, by kind of write: the create, a status
written by server-side apply, the same status change as a merge patch with the
resourceVersion precondition. No operator needs to run; the cluster is the one of
$CLUSTER_DIR (hack/cluster.sh), whose pids give the CPU (/proc/PID/stat).

    CLUSTER_DIR=... python3 bench/task_writes.py LABEL N

Install a CRD variant first to compare (e.g. the Task CRD without its
x-kubernetes-validations); bench/README.md, "Cost per task", has the figures."""
import base64, json, os, ssl, sys, http.client, tempfile, threading, time, queue
import yaml
cd = os.environ['CLUSTER_DIR']
kc = yaml.safe_load(open(os.path.join(cd, 'kubeconfig')))
u = kc['users'][0]['user']; c = kc['clusters'][0]['cluster']
d = tempfile.mkdtemp(prefix='task-writes-')
for k, f in (('client-certificate-data', 'crt'), ('client-key-data', 'key')):
    open(f'{d}/{f}', 'wb').write(base64.b64decode(u[k]))
open(f'{d}/ca', 'wb').write(base64.b64decode(c['certificate-authority-data']))
ctx = ssl.create_default_context(cafile=f'{d}/ca'); ctx.load_cert_chain(f'{d}/crt', f'{d}/key')
host, port = c['server'].replace('https://', '').split(':')
pid = open(os.path.join(cd, 'run', 'kube-apiserver.pid')).read().strip()
epid = open(os.path.join(cd, 'run', 'etcd.pid')).read().strip()
def cpu(p):
    f = open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()
    return (int(f[11]) + int(f[12])) / 100.0
label, N = sys.argv[1], int(sys.argv[2])
NS = 'task-writes'
def conn(): return http.client.HTTPSConnection(host, int(port), context=ctx)
def req(cn, method, path, body=None, ctype='application/json'):
    h = {'Content-Type': ctype, 'Accept': 'application/json'}
    cn.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
    r = cn.getresponse(); data = r.read()
    return r.status, data
def run(jobs, fn, threads=16):
    q = queue.Queue()
    for j in jobs: q.put(j)
    errs = []
    def w():
        cn = conn()
        while True:
            try: j = q.get_nowait()
            except queue.Empty: return
            st, data = fn(cn, j)
            if st >= 300: errs.append((st, data[:200]))
    ts = [threading.Thread(target=w) for _ in range(threads)]
    a, e, t0 = cpu(pid), cpu(epid), time.time()
    for t in ts: t.start()
    for t in ts: t.join()
    return (cpu(pid) - a) * 1000 / len(jobs), (cpu(epid) - e) * 1000 / len(jobs), time.time() - t0, errs
cn = conn()
req(cn, 'POST', '/api/v1/namespaces', {'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': NS}})
base = f'/apis/mesos.operator.dev/v1alpha1/namespaces/{NS}/tasks'
def task(i):
    return {'apiVersion': 'mesos.operator.dev/v1alpha1', 'kind': 'Task',
            'metadata': {'name': f'm-{label}-{i}', 'annotations': {'kwok.mesos.operator.dev/run-for': '5s'}},
            'spec': {'framework': 'f', 'resources': {'cpus': 0.1, 'mem': 64}, 'command': {'shell': 'sleep 5'}}}
now = '2026-12-01T20:00:00Z'
def status(state, hist):
    return {'state': state, 'source': 'SOURCE_AGENT', 'pod': 'p', 'podUid': 'u', 'agent': 'kwok-node-1', 'observedGeneration': 1,
            'startTime': now, 'history': [{'state': s, 'source': 'SOURCE_AGENT', 'timestamp': now} for s in hist],
            'conditions': [{'type': t, 'status': 'True', 'reason': t, 'message': '', 'lastTransitionTime': now, 'observedGeneration': 1} for t in ('Scheduled', 'Running')]}
rv = {}
def create(cn, i):
    st, data = req(cn, 'POST', base, task(i))
    if st < 300: rv[i] = json.loads(data)['metadata']['resourceVersion']
    return st, data
res = {'label': label, 'n': N}
res['create'] = run(range(N), create)
def ssa(cn, i):
    body = {'apiVersion': 'mesos.operator.dev/v1alpha1', 'kind': 'Task', 'metadata': {'name': f'm-{label}-{i}', 'resourceVersion': rv[i]},
            'status': status('TASK_RUNNING', ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING'])}
    st, data = req(cn, 'PATCH', f'{base}/m-{label}-{i}/status?fieldManager=mesos-operator&force=true', body, 'application/apply-patch+yaml')
    if st < 300: rv[i] = json.loads(data)['metadata']['resourceVersion']
    return st, data
def merge(cn, i):
    body = {'metadata': {'resourceVersion': rv[i]}, 'status': {'state': 'TASK_FINISHED', 'finishTime': now,
            'history': [{'state': s, 'source': 'SOURCE_AGENT', 'timestamp': now} for s in ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']]}}
    st, data = req(cn, 'PATCH', f'{base}/m-{label}-{i}/status?fieldManager=mesos-operator', body, 'application/merge-patch+json')
    if st < 300: rv[i] = json.loads(data)['metadata']['resourceVersion']
    return st, data
def ssa2(cn, i):
    body = {'apiVersion': 'mesos.operator.dev/v1alpha1', 'kind': 'Task', 'metadata': {'name': f'm-{label}-{i}', 'resourceVersion': rv[i]},
            'status': dict(status('TASK_FINISHED', ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']), finishTime=now)}
    st, data = req(cn, 'PATCH', f'{base}/m-{label}-{i}/status?fieldManager=mesos-operator&force=true', body, 'application/apply-patch+yaml')
    return st, data
half = N // 2
res['status_apply_first'] = run(range(N), ssa)           # every task: Running by SSA
res['status_merge'] = run(range(half), merge)            # half: Finished by merge patch
res['status_apply'] = run(range(half, N), ssa2)          # other half: Finished by SSA
req(cn, 'DELETE', f'/apis/mesos.operator.dev/v1alpha1/namespaces/{NS}/tasks')
for k, v in res.items():
    if isinstance(v, tuple):
        print(f'{label:10} {k:20} apiserver {v[0]:6.2f} ms/write  etcd {v[1]:5.2f} ms/write  {v[2]:6.1f} s  errors {len(v[3])} {v[3][:1]}')
import shutil
shutil.rmtree(d, ignore_errors=True)
