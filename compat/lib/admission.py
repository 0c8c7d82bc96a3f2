"""The API server's side of an admission webhook call, for compat/flows/admission.sh.

There is no cluster in CI, so this plays the part of kube-apiserver around objects that kubectl
builds: it wraps an object in an AdmissionReview `admission.k8s.io/v1` as the API server sends it
(CREATE, UPDATE with `oldObject`, DELETE, the `status`, `scale` and `ephemeralcontainers`
subresources), and reads the answer as the API server reads it: the checks of its
`VerifyAdmissionResponse` (uid, kind, patch and patchType together, no patch from a validating
hook), audit annotation keys that stay valid once prefixed by the webhook's name, and the JSON
Patch applied to the object. Then it prints what the flow checks, one fact a line.

    admission.py convert KIND DEPLOYMENT.json      a StatefulSet, DaemonSet, ReplicaSet or
                                                   ReplicationController from a Deployment
    admission.py edit OBJECT.json PATCH            OBJECT with an RFC 6902 patch applied
    admission.py review OP OBJECT.json [--old OLD.json] [--subresource S] [--uid U]
    admission.py answer --hook mutate|validate --http CODE --review REVIEW.json
                        [--patched OUT.json] RESPONSE.json

Standard library only.
"""

import argparse
import base64
import copy
import json
import re
import sys
import uuid

NAMESPACE = "compat"
USER = {"username": "kubernetes-admin", "uid": "compat-admin",
        "groups": ["system:masters", "system:authenticated"]}
# kind -> (group, version, resource) as the API server names them
RESOURCES = {
    "Pod": ("", "v1", "pods"),
    "ReplicationController": ("", "v1", "replicationcontrollers"),
    "ConfigMap": ("", "v1", "configmaps"),
    "Deployment": ("apps", "v1", "deployments"),
    "ReplicaSet": ("apps", "v1", "replicasets"),
    "StatefulSet": ("apps", "v1", "statefulsets"),
    "DaemonSet": ("apps", "v1", "daemonsets"),
    "Job": ("batch", "v1", "jobs"),
    "CronJob": ("batch", "v1", "cronjobs"),
}
OPTIONS = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


class Failure(Exception):
    """The answer is one the API server would refuse (or this helper was misused)."""


# ---------------------------------------------------------------------------------------------
# RFC 6902, the two operations a webhook that pins images needs (and `edit` uses)
# ---------------------------------------------------------------------------------------------
def pointer_tokens(pointer):
    """RFC 6901: the reference tokens of a JSON Pointer."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise Failure(f"JSON Pointer {pointer!r} does not start with '/'")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def array_index(token, length, allow_end):
    """RFC 6901 section 4 and RFC 6902 4.1: an array index (or '-' for add)."""
    if allow_end and token == "-":
        return length
    if not re.fullmatch(r"0|[1-9][0-9]*", token):
        raise Failure(f"{token!r} is not an array index")
    index = int(token)
    if index > length or (index == length and not allow_end):
        raise Failure(f"array index {index} is out of range (length {length})")
    return index


def apply_patch(document, patch):
    """Apply `patch` (a list of operations) to a copy of `document` and return it."""
    if not isinstance(patch, list):
        raise Failure("a JSON Patch is an array of operations")
    doc = copy.deepcopy(document)
    for op in patch:
        if not isinstance(op, dict) or not isinstance(op.get("path"), str) or "value" not in op:
            raise Failure(f"malformed operation {op!r}")
        kind = op.get("op")
        if kind not in ("add", "replace"):
            raise Failure(f"operation {kind!r} is not expected from this webhook")
        tokens = pointer_tokens(op["path"])
        if not tokens:
            doc = copy.deepcopy(op["value"])
            continue
        parent = doc
        for token in tokens[:-1]:
            if isinstance(parent, list):
                parent = parent[array_index(token, len(parent), False)]
            elif isinstance(parent, dict) and token in parent:
                parent = parent[token]
            else:
                raise Failure(f"path {op['path']}: {token!r} does not exist")
        last = tokens[-1]
        value = copy.deepcopy(op["value"])
        if isinstance(parent, list):
            index = array_index(last, len(parent), kind == "add")
            if kind == "add":
                parent.insert(index, value)
            else:
                parent[index] = value
        elif isinstance(parent, dict):
            if kind == "replace" and last not in parent:
                raise Failure(f"replace of {op['path']}, which does not exist")
            parent[last] = value
        else:
            raise Failure(f"path {op['path']}: the parent is not a container")
    return doc


# ---------------------------------------------------------------------------------------------
# Objects
# ---------------------------------------------------------------------------------------------
def pod_spec_pointer(obj):
    """Where the pod spec of a workload object lives, as a JSON Pointer (None: no pod spec)."""
    kind = obj.get("kind") if isinstance(obj, dict) else None
    if kind == "Pod":
        return "/spec"
    if kind == "CronJob":
        return "/spec/jobTemplate/spec/template/spec"
    if kind in RESOURCES and kind != "ConfigMap":
        return "/spec/template/spec"
    return None


def resolve(obj, pointer):
    """The value at a JSON Pointer, or None where the path does not exist."""
    for token in pointer_tokens(pointer):
        if isinstance(obj, dict):
            obj = obj.get(token)
        elif isinstance(obj, list) and token.isdigit() and int(token) < len(obj):
            obj = obj[int(token)]
        else:
            return None
    return obj


def images(obj):
    """(pointer, image) of every container of the object, in document order."""
    base = pod_spec_pointer(obj)
    spec = resolve(obj, base) if base else None
    found = []
    if isinstance(spec, dict):
        for field in CONTAINER_LISTS:
            for i, container in enumerate(spec.get(field) or []):
                if isinstance(container, dict):
                    found.append((f"{base}/{field}/{i}/image", container.get("image")))
    return found


def convert(kind, deployment):
    """The same pod template under another workload kind, with that kind's own spec fields."""
    spec = deployment["spec"]
    meta = copy.deepcopy(deployment["metadata"])
    template = copy.deepcopy(spec["template"])
    selector = copy.deepcopy(spec["selector"])
    if kind == "StatefulSet":
        new = {"replicas": spec.get("replicas", 1), "selector": selector, "template": template,
               "serviceName": meta["name"], "podManagementPolicy": "OrderedReady",
               "updateStrategy": {"type": "RollingUpdate"}}
        api = "apps/v1"
    elif kind == "DaemonSet":
        new = {"selector": selector, "template": template,
               "updateStrategy": {"type": "RollingUpdate"}}
        api = "apps/v1"
    elif kind == "ReplicaSet":
        new = {"replicas": spec.get("replicas", 1), "selector": selector, "template": template}
        api = "apps/v1"
    elif kind == "ReplicationController":
        # the core/v1 controller predates label selectors: a plain map
        new = {"replicas": spec.get("replicas", 1), "selector": selector.get("matchLabels", {}),
               "template": template}
        api = "v1"
    else:
        raise Failure(f"cannot convert a Deployment into a {kind}")
    return {"kind": kind, "apiVersion": api, "metadata": meta, "spec": new, "status": {}}


def as_stored(obj, namespace):
    """The object as the API server holds it once created: namespace, uid, version, timestamp."""
    obj = copy.deepcopy(obj)
    meta = obj.setdefault("metadata", {})
    meta["namespace"] = namespace
    meta.setdefault("uid", str(uuid.uuid5(uuid.NAMESPACE_URL, f"{obj.get('kind')}/{meta.get('name')}")))
    meta.setdefault("resourceVersion", "4242")
    if meta.get("creationTimestamp") is None:
        meta["creationTimestamp"] = "2025-01-01T00:00:00Z"
    return obj


def scale_of(obj):
    """The autoscaling/v1 Scale the API server passes for a `scale` subresource request."""
    meta = obj.get("metadata", {})
    labels = (obj.get("spec", {}).get("selector") or {}).get("matchLabels", {})
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace"),
                         "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion"),
                         "creationTimestamp": meta.get("creationTimestamp")},
            "spec": {"replicas": 5},
            "status": {"replicas": obj.get("spec", {}).get("replicas", 1),
                       "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items()))}}


def review(op, obj, old, subresource, uid, namespace):
    """An AdmissionReview request as kube-apiserver builds it for OP on OBJ."""
    kind = (old or obj or {}).get("kind")
    if kind not in RESOURCES:
        raise Failure(f"no resource known for kind {kind!r}")
    group, version, resource = RESOURCES[kind]
    gvk = {"group": group, "version": version, "kind": kind}
    name = ((old or obj or {}).get("metadata") or {}).get("name", "")
    if op == "CREATE":
        # before the store fills uid and creationTimestamp: as mutating webhooks see it
        obj = copy.deepcopy(obj)
        obj.setdefault("metadata", {})["namespace"] = namespace
    elif op == "UPDATE":
        obj, old = as_stored(obj, namespace), as_stored(old if old is not None else obj, namespace)
    elif op == "DELETE":
        old, obj = as_stored(obj, namespace), None
    elif op == "CONNECT":
        # `kubectl exec`: the object is the exec options, never a pod spec
        containers = resolve(obj, (pod_spec_pointer(obj) or "/spec") + "/containers") or [{}]
        obj, old = {"kind": "PodExecOptions", "apiVersion": "v1", "stdin": True, "stdout": True,
                    "tty": True, "container": containers[0].get("name"), "command": ["sh"]}, None
        gvk = {"group": "", "version": "v1", "kind": "PodExecOptions"}
        subresource = subresource or "exec"
    else:
        raise Failure(f"unknown operation {op}")
    if subresource == "scale":
        gvk = {"group": "autoscaling", "version": "v1", "kind": "Scale"}
        obj, old = scale_of(obj), scale_of(old)
    request = {
        "uid": uid,
        "kind": gvk,
        "resource": {"group": group, "version": version, "resource": resource},
        "requestKind": gvk,
        "requestResource": {"group": group, "version": version, "resource": resource},
        "name": name,
        "namespace": namespace,
        "operation": op,
        "userInfo": USER,
        "object": obj,
        "oldObject": old,
        "dryRun": False,
        "options": {"kind": OPTIONS[op], "apiVersion": "meta.k8s.io/v1"} if op in OPTIONS else None,
    }
    if subresource:
        request["subResource"] = subresource
    return {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": request}


# ---------------------------------------------------------------------------------------------
# Reading the answer as the API server does
# ---------------------------------------------------------------------------------------------
QUALIFIED = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


def answer(hook, http, review_text, response_text):
    """Check the answer, print one fact a line; return the object after the patch (or None)."""
    print(f"http {http}")
    if http != "200":
        raise Failure(f"the API server treats HTTP {http} as a failed call to the webhook")
    try:
        sent = json.loads(review_text)
        request = sent["request"]
        uid = request["uid"]
        obj = request.get("object")
    except (ValueError, KeyError, TypeError, RecursionError):
        sent, request, uid, obj = None, None, None, None
    try:
        got = json.loads(response_text)
    except (ValueError, RecursionError) as e:
        raise Failure(f"the answer is not JSON ({e})") from None
    if not isinstance(got, dict) or (got.get("apiVersion"), got.get("kind")) != ("admission.k8s.io/v1", "AdmissionReview"):
        raise Failure("the answer is not an admission.k8s.io/v1 AdmissionReview")
    resp = got.get("response")
    if not isinstance(resp, dict):
        raise Failure("webhook response was absent")
    if isinstance(uid, str):
        if resp.get("uid") != uid:
            raise Failure(f"expected response.uid={uid!r}, got {resp.get('uid')!r}")
        print(f"uid {uid} (echoed)")
    else:
        print(f"uid {resp.get('uid')!r} (the request's could not be read)")
    allowed = resp.get("allowed")
    if not isinstance(allowed, bool):
        raise Failure(f"response.allowed is {allowed!r}, not a boolean")
    print(f"allowed {str(allowed).lower()}")
    status = resp.get("status")
    if status is not None:
        if not isinstance(status, dict):
            raise Failure("response.status is not an object")
        if "code" in status:
            print(f"status.code {status['code']}")
        for line in str(status.get("message") or "").splitlines():
            print(f"status.message {line}")
    if not allowed and not (isinstance(status, dict) and status.get("message")):
        raise Failure("a denial without status.message tells the user nothing")
    warnings = resp.get("warnings") or []
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        raise Failure("response.warnings is not a list of strings")
    for w in warnings:
        print(f"warning {w}")
    audit = resp.get("auditAnnotations") or {}
    if not isinstance(audit, dict):
        raise Failure("response.auditAnnotations is not a map")
    for key, value in sorted(audit.items()):
        # kube-apiserver records it as "<webhook name>/<key>", which must be a qualified name
        # with exactly one '/': a key with a '/' of its own is dropped with a log line
        if "/" in key or len(key) > 63 or not QUALIFIED.fullmatch(key):
            raise Failure(f"audit annotation key {key!r} is invalid once prefixed by the webhook name")
        print(f"audit {key}={value}")
    patch_b64, patch_type = resp.get("patch"), resp.get("patchType")
    if hook == "validate":
        if patch_b64:
            raise Failure("validating webhook may not return response.patch")
        if patch_type is not None:
            raise Failure("validating webhook may not return response.patchType")
    elif bool(patch_b64) != (patch_type is not None):
        raise Failure(f"patch and patchType must come together (patchType {patch_type!r})")
    patched = obj
    if patch_b64:
        if patch_type != "JSONPatch":
            raise Failure(f"invalid response.patchType {patch_type!r}")
        if not allowed:
            print("note: a patch on a denial (the API server ignores it)")
        try:
            patch = json.loads(base64.b64decode(patch_b64, validate=True))
        except (ValueError, TypeError) as e:
            raise Failure(f"response.patch is not base64 of JSON: {e}") from None
        patched = apply_patch(obj, patch)
        print(f"patch {len(patch)} op(s)")
        for op in patch:
            print(f"op {op['op']} {op['path']} = {op['value']}")
    else:
        print("patch none")
    listed = images(patched) if isinstance(patched, dict) else []
    for pointer, image in listed:
        print(f"image {pointer} = {image}")
    if listed:
        pinned = all(isinstance(i, str) and "@sha256:" in i for _, i in listed)
        print("every image pinned" if pinned else "not every image pinned")
    return patched


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("convert")
    p.add_argument("kind")
    p.add_argument("deployment")
    p = sub.add_parser("edit")
    p.add_argument("object")
    p.add_argument("patch")
    p = sub.add_parser("review")
    p.add_argument("operation", choices=["CREATE", "UPDATE", "DELETE", "CONNECT"])
    p.add_argument("object")
    p.add_argument("--old")
    p.add_argument("--subresource")
    p.add_argument("--uid")
    p.add_argument("--namespace", default=NAMESPACE)
    p = sub.add_parser("answer")
    p.add_argument("--hook", choices=["mutate", "validate"], required=True)
    p.add_argument("--http", required=True)
    p.add_argument("--review", required=True)
    p.add_argument("--patched")
    p.add_argument("response")
    args = parser.parse_args(argv)

    def load(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    try:
        if args.command == "convert":
            out = convert(args.kind, load(args.deployment))
        elif args.command == "edit":
            out = apply_patch(load(args.object), json.loads(args.patch))
        elif args.command == "review":
            old = load(args.old) if args.old else None
            out = review(args.operation, load(args.object), old, args.subresource,
                         args.uid or str(uuid.uuid4()), args.namespace)
        else:
            with open(args.review, encoding="utf-8", errors="replace") as f:
                review_text = f.read()
            with open(args.response, encoding="utf-8", errors="replace") as f:
                response_text = f.read()
            try:
                patched = answer(args.hook, args.http, review_text, response_text)
            except Failure:
                print(f"the answer: {response_text[:2000]}")
                raise
            if args.patched and patched is not None:
                with open(args.patched, "w", encoding="utf-8") as f:
                    json.dump(patched, f, indent=1)
            return 0
    except Failure as e:
        print(f"refused as the API server would: {e}")
        return 1
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
