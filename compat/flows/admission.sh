# The Kubernetes admission webhook (Notarium only), without a cluster: objects made by kubectl
# (`--dry-run=client -o json`), wrapped in AdmissionReviews as kube-apiserver sends them
# (lib/admission.py: CREATE, UPDATE with oldObject, DELETE, CONNECT, the status, scale and
# ephemeralcontainers subresources), POSTed with curl, and the answers read as the API server
# reads them: the JSON Patch applied and every image read back. Trust data comes from the real
# Docker CLI (signer alice) and notary CLI on a `serve --policy` instance of this flow's own; the
# core cases run again through `notarium admission` reading that instance remotely.

if [ "$TARGET" = notarium ]; then
AF="$TMP/admission"
mkdir -p "$AF/objects"
ADM_PY="$COMPAT_DIR/lib/admission.py"
adm_py() { "$PY" -S "$ADM_PY" "$@"; } # standard library only: -S saves a third of its start-up
AS_PORT=$(free_port); AS_URL="https://127.0.0.1:$AS_PORT"; AS_HOST="127.0.0.1:$AS_PORT"
digest_of() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# The images. APP is made with the Docker CLI, NGINX (Docker's short names) with the notary CLI.
APP=registry.example.com/adm/app
NGINX=docker.io/library/nginx
D_ONE=$(digest_of "admission one"); D_TWO=$(digest_of "admission two")
D_N1=$(digest_of "nginx 1"); D_N127=$(digest_of "nginx 1.27")
UNSIGNED="$APP:nope"                     # under a rule with break_glass: true
UNSIGNED_SHORT=nginx:nope                # under a rule without it
WARNED=registry.example.com/staging/web:1 # under a warn rule, no trust data
NO_RULE=other.example/tools:1

# --- trust data --------------------------------------------------------------------------------
AD_DOCKER="$AF/docker"
mkdir -p "$AD_DOCKER/tls/$AS_HOST"
cp "$TMP/ca.crt" "$AD_DOCKER/tls/$AS_HOST/ca.crt"
adocker() {
  DOCKER_CONFIG="$AD_DOCKER" DOCKER_CONTENT_TRUST_SERVER="$AS_URL" \
    DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE="$NOTARY_ROOT_PASSPHRASE" \
    DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE="$NOTARY_TARGETS_PASSPHRASE" docker "$@"
}
# the notary CLI on Docker's trust dir (tags enter targets/releases as a push puts them there)
adocker_notary() {
  NOTARY_DELEGATION_PASSPHRASE="$NOTARY_TARGETS_PASSPHRASE" \
    notary -s "$AS_URL" --tlscacert "$TMP/ca.crt" -d "$AD_DOCKER/trust" "$@"
}
anotary() { notary -s "$AS_URL" --tlscacert "$TMP/ca.crt" -d "$AF/trust-notary" "$@"; }

step "[admission] docker trust key generate alice" --has "Successfully generated and loaded private key" \
  -- adocker trust key generate alice --dir "$AF"
ALICE_KEY=$(pub_key_id "$AF/alice.pub" 2>/dev/null || echo none)
cat >"$AF/policy.yaml" <<YAML
rules:
  - match: "$APP"
    root:
      tofu: true
    signers:
      - name: alice
        keys: ["$ALICE_KEY"]
    break_glass: true
  - match: "docker.io/library/*"
    root:
      tofu: true
  - match: "registry.example.com/staging/**"
    root:
      tofu: true
    mode: warn
YAML
"$NOTARIUM_BIN" serve --listen "$AS_HOST" --data-dir "$AF/served" --tls-cert "$TMP/server.crt" \
  --tls-key "$TMP/server.key" --policy "$AF/policy.yaml" >"$AF/served.log" 2>&1 </dev/null &
AS_PID=$!
EXTRA_PIDS+=("$AS_PID")
check "[admission] serve --policy starts (the local trust source)" -- wait_healthy "$AS_URL" "$AS_PID" "$AF/served.log"

step "[admission] docker trust signer add alice initialises $APP" --has "Successfully added signer: alice to $APP" \
  -- adocker trust signer add --key "$AF/alice.pub" alice "$APP"
app_tags() {
  adocker_notary addhash "$APP" one 1234 --sha256 "$D_ONE" -r targets/releases &&
    adocker_notary addhash "$APP" two 1234 --sha256 "$D_TWO" -r targets/releases &&
    adocker_notary publish "$APP"
}
step "[admission] tags one and two enter targets/releases" --has "Successfully published changes" -- app_tags
step "[admission] alice signs one" --has "Successfully signed $APP:one" -- adocker trust sign "$APP:one"
step "[admission] alice signs two" --has "Successfully signed $APP:two" -- adocker trust sign "$APP:two"
nginx_tags() {
  anotary init "$NGINX" && anotary addhash "$NGINX" 1 1234 --sha256 "$D_N1" &&
    anotary addhash "$NGINX" 1.27 1234 --sha256 "$D_N127" && anotary publish "$NGINX"
}
step "[admission] notary init and addhash of $NGINX 1 and 1.27" --has "Successfully published changes" -- nginx_tags
adocker trust inspect "$APP" >"$AF/inspect.json" 2>/dev/null || true
ROOT_KEY=$("$PY" -c 'import json, sys; d = json.load(open(sys.argv[1]))[0]; print([a for a in d["AdministrativeKeys"] if a["Name"] == "Root"][0]["Keys"][0]["ID"])' "$AF/inspect.json" 2>/dev/null || echo none)

# --- objects, made by kubectl ------------------------------------------------------------------
# kubectl maps kinds to resources by discovery even for --dry-run=client (`run` does); a
# discovery cache for a server that does not exist answers it, so no cluster is contacted.
KC_CACHE="$AF/kube-cache"
mkdir -p "$KC_CACHE/discovery/127.0.0.1_9/v1"
printf '%s\n' 'apiVersion: v1' 'kind: Config' 'clusters: [{name: none, cluster: {server: "http://127.0.0.1:9"}}]' \
  'contexts: [{name: none, context: {cluster: none}}]' 'current-context: none' >"$AF/kubeconfig"
printf '%s\n' '{"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"","versions":[{"groupVersion":"v1","version":"v1"}],"preferredVersion":{"groupVersion":"v1","version":"v1"}}]}' \
  >"$KC_CACHE/discovery/127.0.0.1_9/servergroups.json"
printf '%s\n' '{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"v1","resources":[{"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["create","delete","get","list","patch","update","watch"]}]}' \
  >"$KC_CACHE/discovery/127.0.0.1_9/v1/serverresources.json"
kc() { KUBECONFIG="$AF/kubeconfig" kubectl --cache-dir "$KC_CACHE" "$@" --dry-run=client -o json; }
OBJ="$AF/objects"
# adm_edit NAME FROM PATCH: OBJ/NAME.json is OBJ/FROM.json with a JSON Patch applied.
adm_edit() { adm_py edit "$OBJ/$2.json" "$3" >"$OBJ/$1.json"; }
add_list() { printf '[{"op":"add","path":"%s","value":[{"name":"%s","image":"%s","resources":{}}]}]' "$1" "$2" "$3"; }
OWNER='{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"signed-5d9f","uid":"0b1c2d3e-0000-4000-8000-000000000001","controller":true,"blockOwnerDeletion":true}'
make_objects() {
  set -e
  kc run signed --image="$APP:one" >"$OBJ/pod-signed.json"
  kc run short --image=nginx:1 >"$OBJ/pod-short.json"
  kc run later --image=nginx:1.28 >"$OBJ/pod-later.json"
  kc run unsigned --image="$UNSIGNED" >"$OBJ/pod-unsigned.json"
  kc run wrong-digest --image="$APP:one@sha256:$D_TWO" >"$OBJ/pod-wrong-digest.json"
  kc run no-rule --image="$NO_RULE" >"$OBJ/pod-no-rule.json"
  kc run glass --image="$UNSIGNED" --annotations=notarium.io/break-glass=true >"$OBJ/pod-glass.json"
  kc run glass-off --image="$UNSIGNED_SHORT" --annotations=notarium.io/break-glass=true >"$OBJ/pod-glass-off.json"
  adm_edit pod-init pod-signed "$(add_list /spec/initContainers init nginx:1.27)"
  adm_edit pod-all pod-init "$(add_list /spec/ephemeralContainers debug "$APP:two")"
  adm_edit pod-bad-init pod-signed "$(add_list /spec/initContainers init "$UNSIGNED")"
  adm_edit pod-bad-ephemeral pod-signed "$(add_list /spec/ephemeralContainers debug "$UNSIGNED_SHORT")"
  adm_edit pod-debug pod-signed "$(add_list /spec/ephemeralContainers debug "$APP:two")"
  adm_edit pod-bad-debug pod-signed "$(add_list /spec/ephemeralContainers debug "$UNSIGNED")"
  adm_edit pod-owned pod-unsigned "[{\"op\":\"add\",\"path\":\"/metadata/ownerReferences\",\"value\":[$OWNER]}]"
  adm_edit pod-running pod-unsigned '[{"op":"replace","path":"/status","value":{"phase":"Running"}}]'
  # a Pod being deleted whose finalizer is being removed: old holds it, new drops it
  adm_edit pod-deleting pod-unsigned '[{"op":"add","path":"/metadata/deletionTimestamp","value":"2025-01-01T00:10:00Z"},{"op":"add","path":"/metadata/deletionGracePeriodSeconds","value":0}]'
  adm_edit pod-deleting-old pod-deleting '[{"op":"add","path":"/metadata/finalizers","value":["example.com/hold"]}]'
  kc create deployment web --image="$APP:one" --image=nginx:1 >"$OBJ/deploy-web.json"
  kc create deployment refs --image="$APP@sha256:$D_ONE" --image="$APP:two@sha256:$D_TWO" --image=nginx:1.27 >"$OBJ/deploy-refs-0.json"
  adm_edit deploy-refs deploy-refs-0 '[{"op":"replace","path":"/spec/template/spec/containers/1/name","value":"app-two"}]'
  kc create deployment mixed --image="$APP:one" --image="$UNSIGNED" >"$OBJ/deploy-mixed-0.json"
  adm_edit deploy-mixed deploy-mixed-0 '[{"op":"replace","path":"/spec/template/spec/containers/1/name","value":"app-nope"}]'
  adm_edit deploy-mixed-running deploy-mixed '[{"op":"replace","path":"/status","value":{"replicas":1,"readyReplicas":0}}]'
  adm_edit deploy-mixed-deleting deploy-mixed '[{"op":"add","path":"/metadata/deletionTimestamp","value":"2025-01-01T00:10:00Z"}]'
  kc create deployment staged --image="$WARNED" --image="$APP:one" >"$OBJ/deploy-staged.json"
  kc create deployment glass --image="$UNSIGNED" --image=nginx:1 >"$OBJ/deploy-glass-0.json"
  adm_edit deploy-glass deploy-glass-0 '[{"op":"add","path":"/metadata/annotations","value":{"notarium.io/break-glass":"true"}}]'
  local kind
  for kind in StatefulSet DaemonSet ReplicaSet ReplicationController; do
    adm_py convert "$kind" "$OBJ/deploy-web.json" >"$OBJ/$kind-web.json"
    adm_py convert "$kind" "$OBJ/deploy-mixed.json" >"$OBJ/$kind-mixed.json"
  done
  kc create job batch --image="$APP:two" >"$OBJ/Job-web.json"
  kc create job batch-nope --image="$UNSIGNED" >"$OBJ/Job-mixed.json"
  kc create cronjob tick --image=nginx:1 --schedule='*/5 * * * *' >"$OBJ/CronJob-web.json"
  kc create cronjob tick-nope --image="$UNSIGNED_SHORT" --schedule='*/5 * * * *' >"$OBJ/CronJob-mixed.json"
  "$PY" -S -c 'import json, sys; d = json.load(open(sys.argv[1])); d["metadata"]["annotations"] = {"example.com/blob": "x" * 1048576}; json.dump(d, open(sys.argv[2], "w"))' \
    "$OBJ/deploy-web.json" "$OBJ/deploy-large.json"
  kc create configmap settings --from-literal=image="$UNSIGNED" >"$OBJ/configmap.json"
  ls "$OBJ" | wc -l
}
step "[admission] kubectl builds the objects (run, create deployment/job/cronjob/configmap; no cluster)" \
  --re '^[0-9]+$' -- make_objects

# --- sending reviews ---------------------------------------------------------------------------
# adm BASE HOOK OP OBJECT [review options]: wrap OBJ/OBJECT.json as the API server does, POST it
# to BASE/k8s/HOOK and print the answer as lib/admission.py reads it (exit 1 when the API server
# would refuse the answer). The object after the patch is left in AF/patched.json.
adm() {
  local base=$1 hook=$2 op=$3 object=$4; shift 4
  local -a args=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --old) args+=(--old "$OBJ/$2.json"); shift 2 ;;
      *) args+=("$1"); shift ;;
    esac
  done
  adm_py review "$op" "$OBJ/$object.json" ${args[@]+"${args[@]}"} >"$AF/review.json" || return 2
  adm_post "$base" "$hook" "$AF/review.json"
}
# adm_post BASE HOOK BODY: POST a body as it is (for malformed reviews).
adm_post() {
  local code
  rm -f "$AF/patched.json" "$AF/response.json"
  code=$(curl -sS -o "$AF/response.json" -w '%{http_code}' --max-time 20 --cacert "$TMP/ca.crt" \
    -H 'Content-Type: application/json' --data-binary "@$3" "$1/k8s/$2") || return 2
  [ -f "$AF/response.json" ] || : >"$AF/response.json"
  adm_py answer --hook "$2" --http "$code" --review "$3" --patched "$AF/patched.json" "$AF/response.json"
}
keep_patched() { cp "$AF/patched.json" "$OBJ/$1.json" 2>/dev/null || rm -f "$OBJ/$1.json"; }
op_re() { printf '^op replace %s = %s$' "$1" "$2"; } # an exact replace op, as admission.py prints it
img_re() { printf '^image %s = %s$' "$1" "$2"; }
PINNED_ONE="$APP:one@sha256:$D_ONE"; PINNED_TWO="$APP:two@sha256:$D_TWO"
PINNED_N1="$NGINX:1@sha256:$D_N1"; PINNED_N127="$NGINX:1.27@sha256:$D_N127"
C=/spec/containers; T=/spec/template/spec/containers

# admission_cases BASE LABEL: the cases both modes answer the same way.
admission_cases() {
  local b=$1 l=$2
  step "[admission] $l: Pod from kubectl run, signed tag → pinned by a replace op" \
    --has "allowed true" --re "$(op_re "$C/0/image" "$PINNED_ONE")" --has "patch 1 op(s)" --has "every image pinned" \
    -- adm "$b" mutate CREATE pod-signed
  step "[admission] $l: Deployment of two images from both CLIs → both pinned" \
    --has "allowed true" --has "patch 2 op(s)" --re "$(op_re "$T/0/image" "$PINNED_ONE")" \
    --re "$(op_re "$T/1/image" "$PINNED_N1")" --has "every image pinned" -- adm "$b" mutate CREATE deploy-web
  keep_patched "deploy-web-pinned-$l"
  step "[admission] $l: the patched Deployment mutated again → no patch (reinvocation is safe)" \
    --has "allowed true" --has "patch none" --has "every image pinned" -- adm "$b" mutate CREATE "deploy-web-pinned-$l"
  step "[admission] $l: init, regular and ephemeral containers → all three pinned" \
    --has "allowed true" --has "patch 3 op(s)" --re "$(op_re /spec/initContainers/0/image "$PINNED_N127")" \
    --re "$(op_re "$C/0/image" "$PINNED_ONE")" --re "$(op_re /spec/ephemeralContainers/0/image "$PINNED_TWO")" \
    -- adm "$b" mutate CREATE pod-all
  step "[admission] $l: CronJob (jobTemplate) → pinned" --has "allowed true" \
    --re "$(op_re /spec/jobTemplate/spec/template/spec/containers/0/image "$PINNED_N1")" -- adm "$b" mutate CREATE CronJob-web
  step "[admission] $l: signed and unsigned mixed → denied, 403, naming the unsigned one" \
    --has "allowed false" --has "status.code 403" --re "^status.message .*$UNSIGNED" \
    --no-re "^status.message .*$APP:one" --has "patch none" -- adm "$b" mutate CREATE deploy-mixed
  step "[admission] $l: validate denies the same" --has "allowed false" --has "status.code 403" \
    --re "^status.message .*$UNSIGNED" -- adm "$b" validate CREATE deploy-mixed
  step "[admission] $l: validate admits the pinned Deployment, with no patch" --has "allowed true" --has "patch none" \
    -- adm "$b" validate CREATE "deploy-web-pinned-$l"
  step "[admission] $l: warn rule → admitted, the reason in warnings" --has "allowed true" \
    --re "^warning (notarium: )?$WARNED" --re "$(op_re "$T/1/image" "$PINNED_ONE")" -- adm "$b" mutate CREATE deploy-staged
  step "[admission] $l: break-glass on an enabled rule → admitted, recorded" --has "allowed true" \
    --re "^audit break-glass=.*$UNSIGNED" --re "^warning .*$UNSIGNED" -- adm "$b" mutate CREATE deploy-glass
  step "[admission] $l: /scale of a Deployment with an unsigned image → allowed" --has "allowed true" \
    --has "patch none" -- adm "$b" mutate UPDATE deploy-mixed --subresource scale
  step "[admission] $l: DELETE → allowed" --has "allowed true" --has "patch none" -- adm "$b" mutate DELETE deploy-mixed
  printf 'this is not an AdmissionReview {' >"$AF/garbage"
  step "[admission] $l: a body that is not JSON → HTTP 200, denied with a message" --has "http 200" \
    --has "allowed false" --re '^status.message .+' -- adm_post "$b" mutate "$AF/garbage"
}

admission_cases "$AS_URL" local

# --- the local source: every case --------------------------------------------------------------
L=$AS_URL
step "[admission] kubectl run nginx:1 → normalised as Docker does" --has "allowed true" \
  --re "$(op_re "$C/0/image" "$PINNED_N1")" -- adm "$L" mutate CREATE pod-short
for kind in StatefulSet DaemonSet ReplicaSet ReplicationController; do
  step "[admission] $kind (from the Deployment's template) → both images pinned" --has "allowed true" \
    --has "patch 2 op(s)" --re "$(op_re "$T/0/image" "$PINNED_ONE")" --re "$(op_re "$T/1/image" "$PINNED_N1")" \
    -- adm "$L" mutate CREATE "$kind-web"
done
step "[admission] Job from kubectl create job → pinned" --has "allowed true" \
  --re "$(op_re "$T/0/image" "$PINNED_TWO")" -- adm "$L" mutate CREATE Job-web
for kind in StatefulSet DaemonSet ReplicaSet ReplicationController Job CronJob; do
  step "[admission] $kind with an unsigned image → denied" --has "allowed false" --has "status.code 403" \
    --re "^status.message .*(nginx:nope|$UNSIGNED)" -- adm "$L" mutate CREATE "$kind-mixed"
done
step "[admission] digest and tag@digest already signed are left alone, the tag is pinned" --has "allowed true" \
  --has "patch 1 op(s)" --re "$(img_re "$T/0/image" "$APP@sha256:$D_ONE")" \
  --re "$(img_re "$T/1/image" "$PINNED_TWO")" --re "$(op_re "$T/2/image" "$PINNED_N127")" -- adm "$L" mutate CREATE deploy-refs
step "[admission] tag@digest with a digest that is not the signed one → denied" --has "allowed false" \
  --re "^status.message .*$APP:one@sha256:$D_TWO" -- adm "$L" mutate CREATE pod-wrong-digest
step "[admission] an image no rule matches → denied" --has "allowed false" --re "^status.message .*$NO_RULE" \
  -- adm "$L" mutate CREATE pod-no-rule
step "[admission] an unsigned init container → denied, naming it" --has "allowed false" \
  --re "^status.message .*$UNSIGNED" --no-re "^status.message .*$APP:one" -- adm "$L" mutate CREATE pod-bad-init
step "[admission] an unsigned ephemeral container → denied" --has "allowed false" \
  --re "^status.message .*nginx:nope" -- adm "$L" mutate CREATE pod-bad-ephemeral
step "[admission] pods/ephemeralcontainers with a signed image → pinned" --has "allowed true" \
  --re "$(op_re /spec/ephemeralContainers/0/image "$PINNED_TWO")" \
  -- adm "$L" mutate UPDATE pod-debug --old pod-signed --subresource ephemeralcontainers
step "[admission] pods/ephemeralcontainers with an unsigned image → denied" --has "allowed false" \
  --re "^status.message .*$UNSIGNED" -- adm "$L" mutate UPDATE pod-bad-debug --old pod-signed --subresource ephemeralcontainers
step "[admission] validate: pods/ephemeralcontainers with an unsigned image → denied" --has "allowed false" \
  -- adm "$L" validate UPDATE pod-bad-debug --old pod-signed --subresource ephemeralcontainers
step "[admission] UPDATE to an unsigned image → denied (checked like CREATE)" --has "allowed false" \
  --re "^status.message .*$UNSIGNED" -- adm "$L" mutate UPDATE deploy-mixed --old deploy-web
step "[admission] UPDATE to signed images → pinned" --has "allowed true" --has "patch 2 op(s)" \
  -- adm "$L" mutate UPDATE deploy-web --old deploy-mixed
step "[admission] validate: UPDATE to an unsigned image → denied" --has "allowed false" \
  -- adm "$L" validate UPDATE deploy-mixed --old deploy-web
step "[admission] ownerReferences on an unsigned Pod do not make it trusted" --has "allowed false" \
  --re "^status.message .*$UNSIGNED" -- adm "$L" mutate CREATE pod-owned
step "[admission] validate: ownerReferences on an unsigned Pod → denied" --has "allowed false" -- adm "$L" validate CREATE pod-owned
step "[admission] a status update of a Pod with an unsigned image → allowed" --has "allowed true" --has "patch none" \
  -- adm "$L" mutate UPDATE pod-running --old pod-unsigned --subresource status
step "[admission] a status update of a Deployment → allowed (validate)" --has "allowed true" \
  -- adm "$L" validate UPDATE deploy-mixed-running --old deploy-mixed --subresource status
step "[admission] a Pod being deleted (deletionTimestamp, finalizer removal) → allowed" --has "allowed true" \
  --has "patch none" -- adm "$L" mutate UPDATE pod-deleting --old pod-deleting-old
step "[admission] a Deployment being deleted → allowed (validate)" --has "allowed true" \
  -- adm "$L" validate UPDATE deploy-mixed-deleting --old deploy-mixed
step "[admission] DELETE of a Pod with an unsigned image → allowed (validate)" --has "allowed true" \
  -- adm "$L" validate DELETE pod-unsigned
step "[admission] CONNECT (kubectl exec) → allowed" --has "allowed true" --has "patch none" \
  -- adm "$L" mutate CONNECT pod-unsigned
step "[admission] /scale → allowed (validate)" --has "allowed true" -- adm "$L" validate UPDATE deploy-mixed --subresource scale
step "[admission] an unknown kind (ConfigMap) → allowed" --has "allowed true" --has "patch none" \
  -- adm "$L" mutate CREATE configmap
step "[admission] break-glass on a Pod (kubectl run --annotations) → admitted, recorded" --has "allowed true" \
  --re "^audit break-glass=.*$UNSIGNED" -- adm "$L" mutate CREATE pod-glass
step "[admission] validate: break-glass → admitted, recorded" --has "allowed true" \
  --re "^audit break-glass=.*$UNSIGNED" -- adm "$L" validate CREATE pod-glass
step "[admission] break-glass annotation under a rule without break_glass → still denied" --has "allowed false" \
  --re "^status.message .*nginx:nope" --no-re "^audit " -- adm "$L" mutate CREATE pod-glass-off
step "[admission] an unsigned image without the annotation → denied" --has "allowed false" \
  --no-re "^audit " -- adm "$L" mutate CREATE pod-unsigned
D_N128=$(digest_of "nginx 1.28")
step "[admission] nginx:1.28, not yet signed → denied" --has "allowed false" --re "^status.message .*nginx:1.28" \
  -- adm "$L" mutate CREATE pod-later
step "[admission] notary addhash -p of $NGINX 1.28" --has "Successfully published changes" \
  -- anotary addhash -p "$NGINX" 1.28 1234 --sha256 "$D_N128"
step "[admission] the same review right after the publish → pinned (decisions follow publishes)" --has "allowed true" \
  --re "$(op_re "$C/0/image" "$NGINX:1.28@sha256:$D_N128")" -- adm "$L" mutate CREATE pod-later

# An UPDATE of a large object (1 MiB of annotations, twice: object and oldObject) is answered.
step "[admission] UPDATE of a Deployment with 1 MiB of annotations → answered, pinned" --has "allowed true" \
  --has "patch 2 op(s)" -- adm "$L" mutate UPDATE deploy-large --old deploy-large

# --- malformed reviews: a denial with a message (and the uid when it could be read) ------------
adm_py review CREATE "$OBJ/deploy-web.json" --uid 7d1c0e52-malformed >"$AF/good-review.json" || true
malformed() { # NAME PATCH: a review made malformed by a JSON Patch
  adm_py edit "$AF/good-review.json" "$2" >"$AF/bad-$1.json" || true
}
malformed empty-object '[{"op":"replace","path":"/request/object","value":{}}]'
malformed null-object '[{"op":"replace","path":"/request/object","value":null}]'
malformed containers-string '[{"op":"replace","path":"/request/object/spec/template/spec/containers","value":"nginx:1"}]'
malformed image-number '[{"op":"replace","path":"/request/object/spec/template/spec/containers/0/image","value":42}]'
malformed spec-list '[{"op":"replace","path":"/request/object/spec","value":[]}]'
malformed uid-number '[{"op":"replace","path":"/request/uid","value":42}]'
malformed operation-bogus '[{"op":"replace","path":"/request/operation","value":"TRUNCATE"}]'
printf '{}' >"$AF/bad-empty.json"
"$PY" -S -c 'print("{\"request\":" + "[" * 100000 + "]" * 100000 + "}")' >"$AF/bad-deep.json"
printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}' >"$AF/bad-no-request.json"
: >"$AF/bad-no-body.json"
for bad in empty no-request no-body uid-number deep; do
  step "[admission] malformed ($bad) → HTTP 200, denied with a message" --has "http 200" --has "allowed false" \
    --re '^status.message .+' -- adm_post "$L" mutate "$AF/bad-$bad.json"
done
for bad in empty-object null-object containers-string image-number spec-list operation-bogus; do
  step "[admission] malformed ($bad) → denied, uid echoed" --has "http 200" --has "uid 7d1c0e52-malformed (echoed)" \
    --has "allowed false" --re '^status.message .+' -- adm_post "$L" mutate "$AF/bad-$bad.json"
done
step "[admission] validate: malformed (containers not a list) → denied" --has "http 200" --has "allowed false" \
  -- adm_post "$L" validate "$AF/bad-containers-string.json"

# --- the same core cases through `notarium admission`, reading the served instance remotely ----
AR_PORT=$(free_port); AR_URL="https://127.0.0.1:$AR_PORT"
cat >"$AF/remote-policy.yaml" <<YAML
rules:
  - match: "$APP"
    server: "$AS_URL"
    ca: "$TMP/ca.crt"
    root:
      keys: ["$ROOT_KEY"]
    signers:
      - name: alice
        keys: ["$ALICE_KEY"]
    break_glass: true
  - match: "docker.io/library/*"
    server: "$AS_URL"
    ca: "$TMP/ca.crt"
    root:
      tofu: true
  - match: "registry.example.com/staging/**"
    server: "$AS_URL"
    ca: "$TMP/ca.crt"
    root:
      tofu: true
    mode: warn
YAML
"$NOTARIUM_BIN" admission --policy "$AF/remote-policy.yaml" --listen "127.0.0.1:$AR_PORT" \
  --tls-cert "$TMP/server.crt" --tls-key "$TMP/server.key" --trust-dir "$AF/remote-trust" \
  >"$AF/admission.log" 2>&1 </dev/null &
AR_PID=$!
EXTRA_PIDS+=("$AR_PID")
admission_up() {
  for _ in $(seq 100); do
    if ! kill -0 "$AR_PID" 2>/dev/null; then echo "notarium admission exited; its log:"; cat "$AF/admission.log"; return 1; fi
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$TMP/ca.crt" "$AR_URL/healthz")" = 200 ] && return 0
    sleep 0.2
  done
  echo "no 200 from $AR_URL/healthz in 20 s; log:"; tail -n 40 "$AF/admission.log"; return 1
}
check "[admission] notarium admission starts (root pinned by the ID docker trust inspect prints; ca: set)" -- admission_up
admission_cases "$AR_URL" remote
else
  echo "# [admission] not run against $TARGET: the webhook is part of Notarium, not of a Notary server"
fi
