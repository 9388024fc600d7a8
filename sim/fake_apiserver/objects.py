"""Builders for Kubernetes objects in the JSON shape the real API server returns
(what `kubectl get -o json` prints), for the fake apiserver, the simulator and tests.

UIDs are deterministic (uuid5 of kind/namespace/name) unless given, so a test can
build owner references without asking the server. Every builder returns a plain dict.
"""

import datetime
import ipaddress
import uuid

_NS_UUID = uuid.UUID("6f1c3f8e-2d57-4f3a-9d0e-caf0e77a0000")


def make_uid(kind, namespace, name):
    return str(uuid.uuid5(_NS_UUID, f"{kind}/{namespace or ''}/{name}"))


def now_ts(offset_seconds=0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
        seconds=offset_seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _meta(kind, name, namespace=None, labels=None, annotations=None, uid=None,
          owners=None, created=None):
    m = {"name": name}
    if namespace is not None:
        m["namespace"] = namespace
    m["uid"] = uid or make_uid(kind, namespace, name)
    m["creationTimestamp"] = created or now_ts()
    if labels:
        m["labels"] = dict(labels)
    if annotations:
        m["annotations"] = dict(annotations)
    if owners:
        m["ownerReferences"] = [o if "apiVersion" in o and "uid" in o else owner_ref(o)
                                for o in owners]
    return m


def owner_ref(obj, controller=True):
    """ownerReference pointing at `obj` (a dict built by these helpers or from the API)."""
    md = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": md["name"],
        "uid": md.get("uid") or make_uid(obj["kind"], md.get("namespace"), md["name"]),
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def namespace(name, labels=None):
    lbl = {"kubernetes.io/metadata.name": name}
    lbl.update(labels or {})
    return {"kind": "Namespace", "apiVersion": "v1",
            "metadata": _meta("Namespace", name, labels=lbl),
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def node(name, internal_ip, *, zone=None, region=None, external_ip=None, labels=None,
         roles=(), kubelet_version="v1.33.0", pod_cidr=None, ready=True, uid=None,
         extra_addresses=()):
    """A Node. internal_ip may be one address or a list (dual stack)."""
    ips = [internal_ip] if isinstance(internal_ip, str) else list(internal_ip)
    lbl = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
           "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
           "beta.kubernetes.io/arch": "amd64"}
    if zone:
        lbl["topology.kubernetes.io/zone"] = zone
    if region:
        lbl["topology.kubernetes.io/region"] = region
    for r in roles:
        lbl[f"node-role.kubernetes.io/{r}"] = ""
    lbl.update(labels or {})
    addrs = [{"type": "InternalIP", "address": ip} for ip in ips]
    if external_ip:
        addrs.append({"type": "ExternalIP", "address": external_ip})
    addrs.append({"type": "Hostname", "address": name})
    addrs += [dict(a) for a in extra_addresses]
    spec = {}
    if pod_cidr:
        spec["podCIDR"] = pod_cidr
        spec["podCIDRs"] = [pod_cidr]
    return {
        "kind": "Node", "apiVersion": "v1",
        "metadata": _meta("Node", name, labels=lbl, uid=uid),
        "spec": spec,
        "status": {
            "addresses": addrs,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                            "reason": "KubeletReady" if ready else "KubeletNotReady",
                            "lastHeartbeatTime": now_ts(),
                            "lastTransitionTime": now_ts()}],
            "nodeInfo": {"kubeletVersion": kubelet_version, "operatingSystem": "linux",
                         "architecture": "amd64", "containerRuntimeVersion":
                         "containerd://1.7.0", "kernelVersion": "6.1.0",
                         "osImage": "Debian GNU/Linux 12 (bookworm)"},
        },
    }


def container(name="app", image="registry.example/app:1", ports=()):
    c = {"name": name, "image": image, "imagePullPolicy": "IfNotPresent",
         "resources": {}, "terminationMessagePath": "/dev/termination-log",
         "terminationMessagePolicy": "File"}
    if ports:
        c["ports"] = [p if isinstance(p, dict) else {"containerPort": int(p), "protocol": "TCP"}
                      for p in ports]
    return c


def pod(name, namespace="default", *, ip=None, ips=None, node=None, host_ip=None,
        owner=None, labels=None, host_network=False, phase="Running", containers=None,
        ports=(), uid=None, ready=None, annotations=None, restart_count=0):
    """A Pod. ip/ips: pod IP(s) (hostNetwork pods use the node IP). owner: an object
    dict (ReplicaSet, StatefulSet, DaemonSet, Job) or a ready ownerReference."""
    ips = list(ips or ([ip] if ip else []))
    conts = containers or [container(ports=ports)]
    if ready is None:
        ready = phase == "Running"
    spec = {"containers": conts, "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default", "schedulerName": "default-scheduler",
            "terminationGracePeriodSeconds": 30}
    if node:
        spec["nodeName"] = node
    if host_network:
        spec["hostNetwork"] = True
    status = {"phase": phase, "qosClass": "BestEffort"}
    if node or host_ip:
        status["hostIP"] = host_ip or (ips[0] if host_network and ips else None)
        if status["hostIP"] is None:
            del status["hostIP"]
        else:
            status["hostIPs"] = [{"ip": status["hostIP"]}]
    if ips:
        status["podIP"] = ips[0]
        status["podIPs"] = [{"ip": a} for a in ips]
    if phase in ("Running", "Succeeded", "Failed"):
        status["startTime"] = now_ts()
        status["conditions"] = [
            {"type": t, "status": "True" if (ready or t in ("PodScheduled", "Initialized"))
             else "False", "lastTransitionTime": now_ts()}
            for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")]
        status["containerStatuses"] = [
            {"name": c["name"], "image": c.get("image", ""), "ready": bool(ready),
             "restartCount": restart_count, "started": phase == "Running",
             "containerID": "containerd://" + make_uid("c", namespace, name + c["name"])
             .replace("-", ""),
             "state": {"running": {"startedAt": now_ts()}} if phase == "Running" else
             {"terminated": {"exitCode": 0 if phase == "Succeeded" else 1,
                             "reason": "Completed" if phase == "Succeeded" else "Error"}}}
            for c in conts]
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": _meta("Pod", name, namespace, labels, annotations, uid,
                              [owner] if owner else None),
            "spec": spec, "status": status}


def _pod_template(labels, ports=()):
    return {"metadata": {"labels": dict(labels)},
            "spec": {"containers": [container(ports=ports)]}}


def deployment(name, namespace="default", *, replicas=1, labels=None, selector=None,
               ports=(), uid=None):
    sel = dict(selector or labels or {"app": name})
    return {"kind": "Deployment", "apiVersion": "apps/v1",
            "metadata": _meta("Deployment", name, namespace, labels or sel, uid=uid),
            "spec": {"replicas": replicas, "selector": {"matchLabels": sel},
                     "template": _pod_template(sel, ports)},
            "status": {"replicas": replicas, "readyReplicas": replicas,
                       "updatedReplicas": replicas, "availableReplicas": replicas,
                       "observedGeneration": 1}}


def replicaset(name, namespace="default", *, owner=None, replicas=1, labels=None,
               selector=None, ports=(), uid=None):
    sel = dict(selector or labels or {"app": name})
    return {"kind": "ReplicaSet", "apiVersion": "apps/v1",
            "metadata": _meta("ReplicaSet", name, namespace, labels or sel, uid=uid,
                              owners=[owner] if owner else None),
            "spec": {"replicas": replicas, "selector": {"matchLabels": sel},
                     "template": _pod_template(sel, ports)},
            "status": {"replicas": replicas, "readyReplicas": replicas,
                       "availableReplicas": replicas, "fullyLabeledReplicas": replicas,
                       "observedGeneration": 1}}


def daemonset(name, namespace="default", *, labels=None, selector=None, nodes=1,
              ports=(), uid=None):
    sel = dict(selector or labels or {"app": name})
    return {"kind": "DaemonSet", "apiVersion": "apps/v1",
            "metadata": _meta("DaemonSet", name, namespace, labels or sel, uid=uid),
            "spec": {"selector": {"matchLabels": sel}, "template": _pod_template(sel, ports)},
            "status": {"desiredNumberScheduled": nodes, "currentNumberScheduled": nodes,
                       "numberReady": nodes, "updatedNumberScheduled": nodes,
                       "numberAvailable": nodes, "numberMisscheduled": 0}}


def statefulset(name, namespace="default", *, replicas=1, labels=None, selector=None,
                service_name=None, ports=(), uid=None):
    sel = dict(selector or labels or {"app": name})
    return {"kind": "StatefulSet", "apiVersion": "apps/v1",
            "metadata": _meta("StatefulSet", name, namespace, labels or sel, uid=uid),
            "spec": {"replicas": replicas, "selector": {"matchLabels": sel},
                     "serviceName": service_name or name,
                     "template": _pod_template(sel, ports)},
            "status": {"replicas": replicas, "readyReplicas": replicas,
                       "currentReplicas": replicas, "updatedReplicas": replicas,
                       "availableReplicas": replicas}}


def cronjob(name, namespace="default", *, schedule="*/5 * * * *", labels=None, uid=None):
    sel = dict(labels or {"app": name})
    return {"kind": "CronJob", "apiVersion": "batch/v1",
            "metadata": _meta("CronJob", name, namespace, sel, uid=uid),
            "spec": {"schedule": schedule, "suspend": False,
                     "concurrencyPolicy": "Allow",
                     "jobTemplate": {"spec": {"template": _pod_template(sel)}}},
            "status": {}}


def job(name, namespace="default", *, owner=None, labels=None, completions=1,
        succeeded=0, uid=None):
    sel = dict(labels or {"job-name": name})
    j = {"kind": "Job", "apiVersion": "batch/v1",
         "metadata": _meta("Job", name, namespace, sel, uid=uid,
                           owners=[owner] if owner else None),
         "spec": {"completions": completions, "parallelism": 1, "backoffLimit": 6,
                  "template": _pod_template(sel)},
         "status": {"startTime": now_ts(), "active": 0 if succeeded >= completions else 1,
                    "succeeded": succeeded}}
    if succeeded >= completions:
        j["status"]["conditions"] = [{"type": "Complete", "status": "True"}]
    return j


def _svc_port(p):
    if isinstance(p, dict):
        d = dict(p)
        d.setdefault("protocol", "TCP")
        d.setdefault("targetPort", d["port"])
        return d
    if isinstance(p, (tuple, list)):
        port, target = p[0], p[1] if len(p) > 1 else p[0]
        d = {"port": int(port), "targetPort": target, "protocol": "TCP"}
        if len(p) > 2:
            d["name"] = p[2]
        return d
    return {"port": int(p), "targetPort": int(p), "protocol": "TCP"}


def service(name, namespace="default", *, cluster_ip=None, cluster_ips=None, ports=(80,),
            selector=None, type="ClusterIP", labels=None, uid=None, external_ips=()):
    """A Service. ports: ints, (port, targetPort[, name]) tuples or port dicts.
    cluster_ip "None" makes a headless service."""
    cips = list(cluster_ips or ([cluster_ip] if cluster_ip else []))
    spec = {"type": type, "ports": [_svc_port(p) for p in ports],
            "sessionAffinity": "None", "internalTrafficPolicy": "Cluster"}
    if selector is not None:
        spec["selector"] = dict(selector)
    if cips:
        spec["clusterIP"] = cips[0]
        spec["clusterIPs"] = cips
        fam = []
        for c in cips:
            if c != "None":
                fam.append("IPv6" if ":" in c else "IPv4")
        spec["ipFamilies"] = fam or ["IPv4"]
        spec["ipFamilyPolicy"] = "PreferDualStack" if len(fam) > 1 else "SingleStack"
    if external_ips:
        spec["externalIPs"] = list(external_ips)
    return {"kind": "Service", "apiVersion": "v1",
            "metadata": _meta("Service", name, namespace, labels, uid=uid),
            "spec": spec, "status": {"loadBalancer": {}}}


def endpointslice(name, namespace="default", *, service_name=None, endpoints=(),
                  ports=(), address_type="IPv4", uid=None, owner=None):
    """An EndpointSlice. endpoints: list of pod dicts (address, node and targetRef taken
    from the pod), or dicts {"ip"/"addresses", "node", "pod"/"targetRef", "ready"}.
    ports: ints, (port, name) tuples or dicts."""
    eps = []
    for e in endpoints:
        if isinstance(e, dict) and e.get("kind") == "Pod":
            ip = e.get("status", {}).get("podIP")
            eps.append({"addresses": [ip] if ip else [],
                        "conditions": {"ready": True, "serving": True,
                                       "terminating": False},
                        "nodeName": e.get("spec", {}).get("nodeName"),
                        "targetRef": {"kind": "Pod", "name": e["metadata"]["name"],
                                      "namespace": e["metadata"].get("namespace"),
                                      "uid": e["metadata"]["uid"]}})
        else:
            d = {"addresses": list(e.get("addresses") or [e["ip"]]),
                 "conditions": {"ready": e.get("ready", True),
                                "serving": e.get("ready", True), "terminating": False}}
            if e.get("node"):
                d["nodeName"] = e["node"]
            p = e.get("pod")
            if p is not None:
                d["targetRef"] = {"kind": "Pod", "name": p["metadata"]["name"],
                                  "namespace": p["metadata"].get("namespace"),
                                  "uid": p["metadata"]["uid"]}
            elif e.get("targetRef"):
                d["targetRef"] = dict(e["targetRef"])
            eps.append(d)
        if eps[-1].get("nodeName") is None:
            eps[-1].pop("nodeName", None)
    pts = []
    for p in ports:
        if isinstance(p, dict):
            pts.append(dict(p))
        elif isinstance(p, (tuple, list)):
            pts.append({"port": int(p[0]), "name": p[1] if len(p) > 1 else "",
                        "protocol": "TCP"})
        else:
            pts.append({"port": int(p), "name": "", "protocol": "TCP"})
    svc = service_name or name
    labels = {"kubernetes.io/service-name": svc,
              "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
    owners = [owner] if owner else [{"apiVersion": "v1", "kind": "Service", "name": svc,
                                     "uid": make_uid("Service", namespace, svc),
                                     "controller": True, "blockOwnerDeletion": True}]
    return {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
            "metadata": _meta("EndpointSlice", name, namespace, labels, uid=uid,
                              owners=owners),
            "addressType": address_type, "endpoints": eps, "ports": pts}


# ------------------------------------------------------------- higher-level helpers

class IPAllocator:
    """Hands out consecutive addresses from a CIDR (skipping network/.1)."""

    def __init__(self, cidr):
        self.net = ipaddress.ip_network(cidr, strict=False)
        self._it = self.net.hosts()
        next(self._it)  # .1 is the gateway

    def next(self):
        return str(next(self._it))


def _suffix(base, i):
    h = make_uid("suffix", base, str(i)).replace("-", "")
    return h[:5]


def workload(kind, name, namespace="default", *, replicas=1, nodes=("node-1",),
             ips=None, labels=None, ports=(), schedule="*/5 * * * *"):
    """A controller with its intermediate owner and pods, like the real controllers
    create them: Deployment→ReplicaSet→Pods, StatefulSet→Pods, DaemonSet→Pods (one per
    node), CronJob→Job→Pod, Job→Pod. `ips` is an IPAllocator or list of addresses.
    Returns a list of objects, controllers first."""
    labels = dict(labels or {"app": name})
    alloc = ips if isinstance(ips, IPAllocator) else None
    ip_list = list(ips) if isinstance(ips, (list, tuple)) else []
    nodes = list(nodes)

    def next_ip(i):
        if alloc:
            return alloc.next()
        return ip_list[i] if i < len(ip_list) else None

    out = []
    pod_names = []
    if kind == "Deployment":
        d = deployment(name, namespace, replicas=replicas, selector=labels, ports=ports)
        rs_hash = make_uid("rs", namespace, name).replace("-", "")[:10]
        rs_labels = dict(labels, **{"pod-template-hash": rs_hash})
        rs = replicaset(f"{name}-{rs_hash}", namespace, owner=d, replicas=replicas,
                        labels=rs_labels, selector=rs_labels, ports=ports)
        out += [d, rs]
        owner, plabels = rs, rs_labels
        pod_names = [f"{rs['metadata']['name']}-{_suffix(name, i)}" for i in range(replicas)]
    elif kind == "StatefulSet":
        s = statefulset(name, namespace, replicas=replicas, selector=labels, ports=ports)
        out.append(s)
        owner, plabels = s, labels
        pod_names = [f"{name}-{i}" for i in range(replicas)]
    elif kind == "DaemonSet":
        s = daemonset(name, namespace, selector=labels, nodes=len(nodes), ports=ports)
        out.append(s)
        owner, plabels = s, labels
        replicas = len(nodes)
        pod_names = [f"{name}-{_suffix(name, i)}" for i in range(replicas)]
    elif kind in ("CronJob", "Job"):
        parent = None
        jname = name
        if kind == "CronJob":
            parent = cronjob(name, namespace, schedule=schedule, labels=labels)
            out.append(parent)
            jname = f"{name}-{29000000 + len(name)}"
        j = job(jname, namespace, owner=parent, labels=dict(labels, **{"job-name": jname}))
        out.append(j)
        owner, plabels = j, j["metadata"]["labels"]
        pod_names = [f"{jname}-{_suffix(jname, i)}" for i in range(replicas)]
    else:
        raise ValueError(f"unsupported workload kind {kind}")
    for i, pn in enumerate(pod_names):
        out.append(pod(pn, namespace, ip=next_ip(i), node=nodes[i % len(nodes)] if nodes
                       else None, owner=owner, labels=plabels, ports=ports))
    return out


def service_for(name, namespace, pods, *, cluster_ip, ports=(80,), selector=None):
    """A Service plus its EndpointSlice covering `pods`."""
    svc = service(name, namespace, cluster_ip=cluster_ip, ports=ports,
                  selector=selector or {"app": name})
    eps_ports = []
    for p in svc["spec"]["ports"]:
        tp = p.get("targetPort", p["port"])
        eps_ports.append({"port": int(tp) if str(tp).isdigit() else p["port"],
                          "name": p.get("name", ""), "protocol": p.get("protocol", "TCP")})
    eps = endpointslice(f"{name}-{_suffix(name, 0)}", namespace, service_name=name,
                        endpoints=[p for p in pods if p["status"].get("podIP")],
                        ports=eps_ports, owner=owner_ref(svc))
    return [svc, eps]


def demo_cluster():
    """A small cluster: 2 nodes, a shop namespace with a frontend Deployment, a
    checkout Deployment, a redis StatefulSet, a log-agent DaemonSet, a report CronJob,
    Services and EndpointSlices for them. Deterministic names, UIDs and IPs."""
    objs = [namespace("default"), namespace("kube-system"), namespace("shop")]
    nodes = [node("node-1", "10.0.0.11", zone="zone-a", region="region-1",
                  pod_cidr="10.244.1.0/24", roles=["control-plane"]),
             node("node-2", "10.0.0.12", zone="zone-b", region="region-1",
                  pod_cidr="10.244.2.0/24")]
    objs += nodes
    names = [n["metadata"]["name"] for n in nodes]
    alloc = IPAllocator("10.244.1.0/24")
    fe = workload("Deployment", "frontend", "shop", replicas=2, nodes=names, ips=alloc,
                  ports=[8080])
    co = workload("Deployment", "checkout", "shop", replicas=2, nodes=names, ips=alloc,
                  ports=[5050])
    rd = workload("StatefulSet", "redis", "shop", replicas=1, nodes=names, ips=alloc,
                  ports=[6379])
    la = workload("DaemonSet", "log-agent", "kube-system", nodes=names, ips=alloc)
    rp = workload("CronJob", "report", "shop", nodes=names, ips=alloc)
    objs += fe + co + rd + la + rp

    def pods_of(lst):
        return [o for o in lst if o["kind"] == "Pod"]
    objs += service_for("frontend", "shop", pods_of(fe), cluster_ip="10.96.0.10",
                        ports=[(80, 8080, "http")])
    objs += service_for("checkout", "shop", pods_of(co), cluster_ip="10.96.0.11",
                        ports=[(5050, 5050, "grpc")])
    objs += service_for("redis", "shop", pods_of(rd), cluster_ip="10.96.0.12",
                        ports=[(6379, 6379, "redis")])
    objs += [service("kubernetes", "default", cluster_ip="10.96.0.1",
                     ports=[{"name": "https", "port": 443, "targetPort": 6443}])]
    return objs
