"""Resource registry: the API groups/resources the fake apiserver serves, their
discovery documents (legacy and aggregated v2) and kubectl Table columns."""

import datetime

READ_VERBS = ["get", "list", "watch"]


class Resource:
    __slots__ = ("group", "version", "plural", "singular", "kind", "namespaced",
                 "short_names", "categories")

    def __init__(self, group, version, plural, singular, kind, namespaced,
                 short_names=(), categories=()):
        self.group = group
        self.version = version
        self.plural = plural
        self.singular = singular
        self.kind = kind
        self.namespaced = namespaced
        self.short_names = list(short_names)
        self.categories = list(categories)

    @property
    def api_version(self):
        return self.version if not self.group else f"{self.group}/{self.version}"

    @property
    def group_version(self):
        return self.api_version

    @property
    def list_kind(self):
        return self.kind + "List"

    def legacy_discovery(self):
        d = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(READ_VERBS),
        }
        if self.short_names:
            d["shortNames"] = list(self.short_names)
        if self.categories:
            d["categories"] = list(self.categories)
        return d

    def aggregated_discovery(self):
        d = {
            "resource": self.plural,
            "responseKind": {"group": self.group, "version": self.version,
                             "kind": self.kind},
            "scope": "Namespaced" if self.namespaced else "Cluster",
            "singularResource": self.singular,
            "verbs": list(READ_VERBS),
        }
        if self.short_names:
            d["shortNames"] = list(self.short_names)
        if self.categories:
            d["categories"] = list(self.categories)
        return d


RESOURCES = [
    Resource("", "v1", "namespaces", "namespace", "Namespace", False, ["ns"]),
    Resource("", "v1", "nodes", "node", "Node", False, ["no"]),
    Resource("", "v1", "pods", "pod", "Pod", True, ["po"], ["all"]),
    Resource("", "v1", "services", "service", "Service", True, ["svc"], ["all"]),
    Resource("apps", "v1", "daemonsets", "daemonset", "DaemonSet", True, ["ds"], ["all"]),
    Resource("apps", "v1", "deployments", "deployment", "Deployment", True, ["deploy"],
             ["all"]),
    Resource("apps", "v1", "replicasets", "replicaset", "ReplicaSet", True, ["rs"],
             ["all"]),
    Resource("apps", "v1", "statefulsets", "statefulset", "StatefulSet", True, ["sts"],
             ["all"]),
    Resource("batch", "v1", "cronjobs", "cronjob", "CronJob", True, ["cj"], ["all"]),
    Resource("batch", "v1", "jobs", "job", "Job", True, [], ["all"]),
    Resource("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice",
             True),
]

BY_PLURAL = {r.plural: r for r in RESOURCES}
BY_KIND = {r.kind: r for r in RESOURCES}
# group -> version -> plural -> Resource
BY_GV = {}
for _r in RESOURCES:
    BY_GV.setdefault(_r.group, {}).setdefault(_r.version, {})[_r.plural] = _r
GROUPS = [g for g in BY_GV if g]  # named groups in registration order


def lookup(group, version, plural):
    return BY_GV.get(group, {}).get(version, {}).get(plural)


def resource_for_object(obj):
    """Resource of an object from its kind (and apiVersion, checked if present)."""
    kind = obj.get("kind")
    r = BY_KIND.get(kind)
    if r is None:
        raise ValueError(f"unsupported kind {kind!r}")
    av = obj.get("apiVersion")
    if av and av != r.api_version:
        raise ValueError(f"kind {kind} has apiVersion {r.api_version}, not {av!r}")
    return r


# ---------------------------------------------------------------- discovery docs

def api_versions(server_address):
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group(group):
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in BY_GV[group]]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": versions,
        "preferredVersion": versions[0],
    }


def api_group_list():
    groups = []
    for g in GROUPS:
        d = api_group(g)
        del d["kind"], d["apiVersion"]
        groups.append(d)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(group, version):
    gv = version if not group else f"{group}/{version}"
    res = sorted(BY_GV[group][version].values(), key=lambda r: r.plural)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": [r.legacy_discovery() for r in res],
    }


def aggregated_discovery(core, api_version):
    """APIGroupDiscoveryList for /api (core=True) or /apis (core=False)."""
    groups = [""] if core else GROUPS
    items = []
    for g in groups:
        versions = []
        for v, res in BY_GV[g].items():
            versions.append({
                "version": v,
                "resources": [r.aggregated_discovery()
                              for r in sorted(res.values(), key=lambda r: r.plural)],
                "freshness": "Current",
            })
        meta = {"creationTimestamp": None}
        if g:
            meta["name"] = g
        items.append({"metadata": meta, "versions": versions})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": api_version,
            "metadata": {}, "items": items}


# ---------------------------------------------------------------- kubectl Tables

def _col(name, typ="string", desc="", priority=0, fmt=""):
    return {"name": name, "type": typ, "format": fmt, "description": desc,
            "priority": priority}


def _parse_ts(ts):
    if not ts:
        return None
    try:
        return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def human_duration(seconds):
    """Roughly kubectl's duration.HumanDuration."""
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if d < 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 365 * 2:
        return f"{d}d"
    return f"{d // 365}y"


def age(obj):
    t = _parse_ts(obj.get("metadata", {}).get("creationTimestamp"))
    if t is None:
        return "<unknown>"
    now = datetime.datetime.now(datetime.timezone.utc)
    return human_duration((now - t).total_seconds())


def _g(obj, *path, default=None):
    cur = obj
    for p in path:
        if isinstance(cur, dict):
            cur = cur.get(p)
        elif isinstance(cur, list) and isinstance(p, int) and -len(cur) <= p < len(cur):
            cur = cur[p]
        else:
            return default
        if cur is None:
            return default
    return cur


def _pod_row(o):
    cs = _g(o, "status", "containerStatuses", default=[]) or []
    ncont = len(_g(o, "spec", "containers", default=[]) or []) or len(cs)
    ready = sum(1 for c in cs if isinstance(c, dict) and c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in cs if isinstance(c, dict))
    status = _g(o, "status", "reason") or _g(o, "status", "phase", default="Unknown")
    if _g(o, "metadata", "deletionTimestamp"):
        status = "Terminating"
    return [_g(o, "metadata", "name", default=""), f"{ready}/{ncont}", status, restarts,
            age(o), _g(o, "status", "podIP", default="<none>"),
            _g(o, "spec", "nodeName", default="<none>"), "<none>", "<none>"]


def _node_row(o):
    ready = "Unknown"
    for c in _g(o, "status", "conditions", default=[]) or []:
        if isinstance(c, dict) and c.get("type") == "Ready":
            ready = "Ready" if c.get("status") == "True" else "NotReady"
    roles = sorted(k.split("/", 1)[1] for k in _g(o, "metadata", "labels", default={})
                   if k.startswith("node-role.kubernetes.io/"))
    ip = "<none>"
    for a in _g(o, "status", "addresses", default=[]) or []:
        if isinstance(a, dict) and a.get("type") == "InternalIP":
            ip = a.get("address", ip)
            break
    return [_g(o, "metadata", "name", default=""), ready, ",".join(roles) or "<none>",
            age(o), _g(o, "status", "nodeInfo", "kubeletVersion", default=""), ip]


def _svc_ports(o):
    out = []
    for p in _g(o, "spec", "ports", default=[]) or []:
        s = f"{p.get('port')}"
        if p.get("nodePort"):
            s += f":{p['nodePort']}"
        out.append(f"{s}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _svc_row(o):
    ext = [i.get("ip") or i.get("hostname") for i in
           _g(o, "status", "loadBalancer", "ingress", default=[]) or []]
    ext += _g(o, "spec", "externalIPs", default=[]) or []
    sel = _g(o, "spec", "selector", default={}) or {}
    return [_g(o, "metadata", "name", default=""), _g(o, "spec", "type", default="ClusterIP"),
            _g(o, "spec", "clusterIP", default="<none>"), ",".join(ext) or "<none>",
            _svc_ports(o), age(o),
            ",".join(f"{k}={v}" for k, v in sorted(sel.items())) or "<none>"]


def _eps_row(o):
    ports = ",".join(str(p.get("port")) for p in o.get("ports") or [] if isinstance(p, dict))
    addrs = []
    for e in o.get("endpoints") or []:
        if isinstance(e, dict):
            addrs += e.get("addresses") or []
    shown = ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")
    return [_g(o, "metadata", "name", default=""), o.get("addressType", ""),
            ports or "<unset>", shown or "<unset>", age(o)]


def _rs_row(o):
    return [_g(o, "metadata", "name", default=""), _g(o, "spec", "replicas", default=0),
            _g(o, "status", "replicas", default=0), _g(o, "status", "readyReplicas", default=0),
            age(o)]


def _deploy_row(o):
    return [_g(o, "metadata", "name", default=""),
            f"{_g(o, 'status', 'readyReplicas', default=0)}/{_g(o, 'spec', 'replicas', default=0)}",
            _g(o, "status", "updatedReplicas", default=0),
            _g(o, "status", "availableReplicas", default=0), age(o)]


def _ds_row(o):
    ns = _g(o, "spec", "template", "spec", "nodeSelector", default={}) or {}
    return [_g(o, "metadata", "name", default=""),
            _g(o, "status", "desiredNumberScheduled", default=0),
            _g(o, "status", "currentNumberScheduled", default=0),
            _g(o, "status", "numberReady", default=0),
            _g(o, "status", "updatedNumberScheduled", default=0),
            _g(o, "status", "numberAvailable", default=0),
            ",".join(f"{k}={v}" for k, v in sorted(ns.items())) or "<none>", age(o)]


def _sts_row(o):
    return [_g(o, "metadata", "name", default=""),
            f"{_g(o, 'status', 'readyReplicas', default=0)}/{_g(o, 'spec', 'replicas', default=0)}",
            age(o)]


def _job_row(o):
    succeeded = _g(o, "status", "succeeded", default=0)
    completions = _g(o, "spec", "completions", default=1)
    status = "Running"
    for c in _g(o, "status", "conditions", default=[]) or []:
        if isinstance(c, dict) and c.get("status") == "True" and c.get("type") in (
                "Complete", "Failed", "Suspended"):
            status = c["type"]
    return [_g(o, "metadata", "name", default=""), status, f"{succeeded}/{completions}",
            "", age(o)]


def _cj_row(o):
    last = _parse_ts(_g(o, "status", "lastScheduleTime"))
    last_s = "<none>"
    if last:
        now = datetime.datetime.now(datetime.timezone.utc)
        last_s = human_duration((now - last).total_seconds())
    return [_g(o, "metadata", "name", default=""), _g(o, "spec", "schedule", default=""),
            _g(o, "spec", "timeZone", default="<none>"),
            str(bool(_g(o, "spec", "suspend", default=False))),
            len(_g(o, "status", "active", default=[]) or []), last_s, age(o)]


def _ns_row(o):
    return [_g(o, "metadata", "name", default=""), _g(o, "status", "phase", default="Active"),
            age(o)]


NAME = _col("Name", fmt="name", desc="Name must be unique within a namespace.")
AGE = _col("Age", desc="CreationTimestamp is a timestamp representing the server time "
           "when this object was created.")

TABLES = {
    "pods": ([NAME, _col("Ready"), _col("Status"), _col("Restarts", "string"), AGE,
              _col("IP", priority=1), _col("Node", priority=1),
              _col("Nominated Node", priority=1), _col("Readiness Gates", priority=1)],
             _pod_row),
    "nodes": ([NAME, _col("Status"), _col("Roles"), AGE, _col("Version"),
               _col("Internal-IP", priority=1)], _node_row),
    "services": ([NAME, _col("Type"), _col("Cluster-IP"), _col("External-IP"),
                  _col("Port(s)"), AGE, _col("Selector", priority=1)], _svc_row),
    "endpointslices": ([NAME, _col("AddressType"), _col("Ports"), _col("Endpoints"), AGE],
                       _eps_row),
    "replicasets": ([NAME, _col("Desired", "integer"), _col("Current", "integer"),
                     _col("Ready", "integer"), AGE], _rs_row),
    "deployments": ([NAME, _col("Ready"), _col("Up-to-date", "integer"),
                     _col("Available", "integer"), AGE], _deploy_row),
    "daemonsets": ([NAME, _col("Desired", "integer"), _col("Current", "integer"),
                    _col("Ready", "integer"), _col("Up-to-date", "integer"),
                    _col("Available", "integer"), _col("Node Selector"), AGE], _ds_row),
    "statefulsets": ([NAME, _col("Ready"), AGE], _sts_row),
    "jobs": ([NAME, _col("Status"), _col("Completions"), _col("Duration"), AGE], _job_row),
    "cronjobs": ([NAME, _col("Schedule"), _col("Timezone"), _col("Suspend", "boolean"),
                  _col("Active", "integer"), _col("Last Schedule"), AGE], _cj_row),
    "namespaces": ([NAME, _col("Status"), AGE], _ns_row),
}


def table_row(resource, obj, include_object):
    cols, fn = TABLES[resource.plural]
    try:
        cells = fn(obj)
    except Exception:  # malformed objects still get a row
        cells = [str(_g(obj, "metadata", "name", default=""))] + [""] * (len(cols) - 1)
    row = {"cells": cells}
    if include_object == "Object":
        row["object"] = obj
    elif include_object != "None":
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                         "metadata": meta if isinstance(meta, dict) else {}}
    return row


def table(resource, objs, include_object, list_meta, with_columns=True):
    cols, _ = TABLES[resource.plural]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": cols if with_columns else [],
        "rows": [table_row(resource, o, include_object) for o in objs],
    }
