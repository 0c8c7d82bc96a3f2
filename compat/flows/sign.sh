# `notarium sign` and `notarium revoke`: signing without a Docker daemon. Real images are pushed
# with skopeo into a TLS docker-registry from OCI layouts built here (a single-platform image and
# a two-platform index); `notarium sign` reads their digests from the registry and publishes
# them as `docker trust sign` does, with keys made by `docker trust key generate` and by the
# notary CLI. What it wrote is read back by `docker trust inspect --pretty`, `notary list`, a
# content-trust `docker pull` (no daemon: it stops after printing the resolved digest) and
# `notarium verify`. Errors publish nothing. Against Notarium, a registry with token auth shares
# Notarium's built-in token service.

# shellcheck source=../lib/dockerd.sh
. "$COMPAT_DIR/lib/dockerd.sh"

command -v skopeo >/dev/null 2>&1 || dockerd_need skopeo || true
check "a TLS docker-registry for the flow" -- registry_up

SG_NAME="compat/sign-$RANDOM$RANDOM"
SG_GUN="$REGISTRY/$SG_NAME"
SG_DIR="$TMP/sign"
SG_DOCKER="$SG_DIR/docker"
mkdir -p "$SG_DOCKER/tls/$HOST"
cp "$TMP/ca.crt" "$SG_DOCKER/tls/$HOST/ca.crt"
SG_TRUST="$SG_DOCKER/trust"

# oci_layout DIR TAG ARCH...: an OCI layout holding TAG: one manifest for one ARCH, an index of
# one manifest per ARCH for several; each layer is a tiny tarball of its own.
oci_layout() {
  "$PY" - "$@" <<'PYEOF'
import hashlib, io, json, os, sys, tarfile
out, tag, archs = sys.argv[1], sys.argv[2], sys.argv[3:]
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)
def blob(data, media):
    d = hashlib.sha256(data).hexdigest()
    open(os.path.join(blobs, d), "wb").write(data)
    return {"mediaType": media, "digest": "sha256:" + d, "size": len(data)}
def image(arch):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        body = ("hello from %s %s\n" % (tag, arch)).encode()
        info = tarfile.TarInfo("hello.txt"); info.size = len(body); info.mtime = 0
        t.addfile(info, io.BytesIO(body))
    layer = buf.getvalue()
    config = json.dumps({"architecture": arch, "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": blob(config, "application/vnd.oci.image.config.v1+json"),
        "layers": [blob(layer, "application/vnd.oci.image.layer.v1.tar")]}).encode()
    desc = blob(manifest, "application/vnd.oci.image.manifest.v1+json")
    desc["platform"] = {"architecture": arch, "os": "linux"}
    return desc
descs = [image(a) for a in archs]
if len(descs) == 1:
    top = descs[0]; top.pop("platform")
else:
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": descs}).encode()
    top = blob(index, "application/vnd.oci.image.index.v1+json")
top["annotations"] = {"org.opencontainers.image.ref.name": tag}
json.dump({"schemaVersion": 2, "manifests": [top]}, open(os.path.join(out, "index.json"), "w"))
open(os.path.join(out, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
PYEOF
}
# push TAG LAYOUT: skopeo copies every image of the layout into the registry.
sg_push() {
  skopeo copy --all --quiet --dest-cert-dir "$REGISTRY_CERTS_D" "oci:$2:$1" "docker://$SG_GUN:$1"
}
# raw_digest REF: sha256 of the exact manifest bytes the registry serves for REF.
raw_digest() {
  skopeo inspect --raw --cert-dir "$REGISTRY_CERTS_D" "docker://$1" | sha256sum | cut -d' ' -f1
}
check "an OCI layout of a single-platform image" -- oci_layout "$SG_DIR/one" v1 amd64
check "an OCI layout of a two-platform index" -- oci_layout "$SG_DIR/multi" multi amd64 arm64
step "skopeo pushes the single-platform image" -- sg_push v1 "$SG_DIR/one"
step "skopeo pushes the two-platform index" -- sg_push multi "$SG_DIR/multi"
SG_V1=$(raw_digest "$SG_GUN:v1" 2>/dev/null || true)
SG_MULTI=$(raw_digest "$SG_GUN:multi" 2>/dev/null || true)
SG_V1_SKOPEO=$(registry_digest "$SG_GUN:v1" 2>/dev/null || true)
check "skopeo inspect's digest is the sha256 of the served manifest" -- test -n "$SG_V1" -a "sha256:$SG_V1" = "$SG_V1_SKOPEO"

# The signer's environment: Docker's passphrase variables as a pipeline sets them.
sg() {
  DOCKER_CONFIG="$SG_DOCKER" DOCKER_CONTENT_TRUST_SERVER="$URL" \
    DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE="$NOTARY_ROOT_PASSPHRASE" \
    DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE="$NOTARY_TARGETS_PASSPHRASE" \
    "$NOTARIUM_BIN" "$@" --ca "$TMP/ca.crt"
}
sgd() {
  DOCKER_CONFIG="$SG_DOCKER" DOCKER_CONTENT_TRUST_SERVER="$URL" \
    DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE="$NOTARY_ROOT_PASSPHRASE" \
    DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE="$NOTARY_TARGETS_PASSPHRASE" docker "$@"
}
sgn() { notary -s "$URL" --tlscacert "$TMP/ca.crt" -d "$SG_TRUST" "$@"; }
sg_fresh_docker() {
  local d="$SG_DIR/docker-fresh-$RANDOM$RANDOM"
  mkdir -p "$d/tls/$HOST"
  cp "$TMP/ca.crt" "$d/tls/$HOST/ca.crt"
  DOCKER_CONFIG="$d" DOCKER_CONTENT_TRUST_SERVER="$URL" docker "$@"
}
sg_pull() { DOCKER_CONTENT_TRUST=1 sg_fresh_docker pull "$@"; }
# the server's current timestamp: unchanged when nothing was published
sg_state() { curl -s --cacert "$TMP/ca.crt" "$URL/v2/$SG_GUN/_trust/tuf/timestamp.json" | sha256sum; }

step "docker trust key generate alice (the signer's key)" -- sgd trust key generate alice --dir "$SG_DIR"
step "sign before the repository has trust data: a clear message" --fail \
  --has "has no trust data yet; pass --init" -- sg sign "$SG_GUN:v1" --registry-ca "$TMP/ca.crt" --signer alice
step "sign --init creates the repository and signs v1" \
  --has "Signed $SG_GUN:v1@sha256:$SG_V1 by alice" \
  -- sg sign "$SG_GUN:v1" --registry-ca "$TMP/ca.crt" --signer alice --init
step "docker trust inspect --pretty shows v1 signed by alice" \
  --re "v1 +$SG_V1 +alice" --has "alice" -- sgd trust inspect --pretty "$SG_GUN"
step "notary list shows v1 with the registry's digest and size" \
  --re "v1 +$SG_V1 +[0-9]+ +targets/(releases|alice)" -- nfresh list "$SG_GUN"
step "a content-trust docker pull resolves v1 to the signed digest" --fail \
  --has "Pull (1 of 1): $SG_GUN:v1@sha256:$SG_V1" -- sg_pull "$SG_GUN:v1"
step "notarium verify resolves v1" --has "$SG_GUN:v1@sha256:$SG_V1" \
  -- "$NOTARIUM_BIN" verify --server "$URL" --ca "$TMP/ca.crt" --tofu --trust-dir "$SG_DIR/verify" "$SG_GUN:v1"
step "notarium verify with --signer alice resolves v1" --has "$SG_GUN:v1@sha256:$SG_V1" \
  -- "$NOTARIUM_BIN" verify --server "$URL" --ca "$TMP/ca.crt" --tofu --trust-dir "$SG_DIR/verify" --signer alice "$SG_GUN:v1"
step "notary delegation list shows targets/alice and targets/releases" --has "targets/releases" \
  --has "targets/alice" -- sgn delegation list "$SG_GUN"

step "sign the two-platform index (no --init: the repository exists)" \
  --has "Signed $SG_GUN:multi@sha256:$SG_MULTI by alice" \
  -- sg sign "$SG_GUN:multi" --registry-ca "$TMP/ca.crt" --signer alice
check "the index digest is not a platform manifest's" -- test -n "$SG_MULTI" -a "$SG_MULTI" != "$SG_V1"
step "a content-trust pull resolves the index digest" --fail \
  --has "Pull (1 of 1): $SG_GUN:multi@sha256:$SG_MULTI" -- sg_pull "$SG_GUN:multi"

# Without --registry-ca the registry's CA is the one the Docker daemon trusts for its host,
# /etc/docker/certs.d/HOST:PORT/ca.crt (registry_up put it there and registry_down removes
# it); the trust server's CA plays no part in the registry's TLS.
check "the registry's CA is in /etc/docker/certs.d/$REGISTRY" -- test -f "/etc/docker/certs.d/$REGISTRY/ca.crt"
step "sign without --registry-ca: the certs.d CA verifies the registry" \
  --has "Signed $SG_GUN:multi@sha256:$SG_MULTI by alice" -- sg sign "$SG_GUN:multi" --signer alice

# --root-key pins the root (instead of the trust directory's cached root or trust on first
# use): the root key ID as `docker trust inspect` shows it.
SG_ROOT_ID=$(sgd trust inspect "$SG_GUN" 2>/dev/null | "$PY" -c '
import json, sys
admin = json.load(sys.stdin)[0]["AdministrativeKeys"]
print([k["Keys"][0]["ID"] for k in admin if k["Name"] == "Root"][0])' 2>/dev/null)
check "docker trust inspect shows the root key ID" -- test -n "$SG_ROOT_ID"
step "sign with --root-key pinned to that ID" \
  --has "Signed $SG_GUN:multi@sha256:$SG_MULTI by alice" \
  -- sg sign "$SG_GUN:multi" --registry-ca "$TMP/ca.crt" --signer alice --root-key "$SG_ROOT_ID" --trust-dir "$SG_DOCKER/trust"

# A delegate whose key the notary CLI made and keeps: `notary key generate` (no -o) stores it
# as notary 0.7 does, DIR/private/<key ID>.key with a `role: targets/bob` header, encrypted
# under NOTARY_DELEGATION_PASSPHRASE. (With -o notary writes FILE.pem, a PUBLIC KEY block, and
# FILE-key.pem, but notary 0.7's `key import` refuses an encrypted key without a `path`
# header, so that pair cannot be imported.) The public key `notary delegation add` takes is
# derived from the stored key; the holder of the targets key --init wrote adds it.
sg_bob_key() {
  notary -d "$SG_DIR/bob-trust" key generate ecdsa --role targets/bob >"$SG_DIR/bob-gen.out" 2>&1 || {
    cat "$SG_DIR/bob-gen.out"
    return 1
  }
  cat "$SG_DIR/bob-gen.out"
  local id
  id=$(sed -n 's/.*with keyID: \([0-9a-f]\{64\}\)$/\1/p' "$SG_DIR/bob-gen.out")
  [ -n "$id" ] && grep -q '^role: targets/bob$' "$SG_DIR/bob-trust/private/$id.key" || return 1
  # openssl reads the PKCS#8 block once notary's `role:` header is taken off
  grep -v -e '^[a-z]*: ' -e '^$' "$SG_DIR/bob-trust/private/$id.key" |
    openssl pkey -passin env:NOTARY_DELEGATION_PASSPHRASE -pubout -out "$SG_DIR/bob.pem"
}
step "notary key generate ecdsa --role targets/bob into bob's trust directory" \
  --has "Generated new ecdsa targets/bob key with keyID" -- sg_bob_key
step "notary delegation add targets/bob and targets/releases with bob's public key" \
  --has "Successfully published changes" -- sh -c "
    notary -s '$URL' --tlscacert '$TMP/ca.crt' -d '$SG_TRUST' delegation add '$SG_GUN' targets/bob '$SG_DIR/bob.pem' --all-paths &&
    notary -s '$URL' --tlscacert '$TMP/ca.crt' -d '$SG_TRUST' delegation add -p '$SG_GUN' targets/releases '$SG_DIR/bob.pem' --all-paths"
SG_BOBV=$(raw_digest "$SG_GUN:v1" 2>/dev/null || true)
step "bob signs v1 with the notary-made key" --has "Signed $SG_GUN:v1@sha256:$SG_BOBV by bob" \
  -- sg sign "$SG_GUN:v1" --registry-ca "$TMP/ca.crt" --signer bob --trust-dir "$SG_DIR/bob-trust"
step "docker trust inspect --pretty lists both signers of v1" \
  --re "v1 +$SG_V1 +(alice, bob|bob, alice)" -- sgd trust inspect --pretty "$SG_GUN"

# Errors: a clear message each, and nothing published.
SG_BEFORE=$(sg_state)
sg_unchanged() { [ "$(sg_state)" = "$SG_BEFORE" ]; }
step "a wrong passphrase is refused" --fail --has "wrong passphrase" --lacks "not-the-passphrase" -- \
  env DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE=not-the-passphrase NOTARY_DELEGATION_PASSPHRASE= \
  DOCKER_CONFIG="$SG_DOCKER" "$NOTARIUM_BIN" sign "$SG_GUN:multi" --server "$URL" --ca "$TMP/ca.crt" \
  --registry-ca "$TMP/ca.crt" --signer alice
step "a missing key is refused" --fail --has "no private key" \
  -- sg sign "$SG_GUN:multi" --registry-ca "$TMP/ca.crt" --signer alice --trust-dir "$SG_DIR/empty"
step "an unknown signer is refused" --fail --has "has no signer carol" \
  -- sg sign "$SG_GUN:multi" --registry-ca "$TMP/ca.crt" --signer carol
step "a tag absent from the registry is refused" --fail --has "cannot read $SG_GUN:nope from the registry" \
  --has "404" -- sg sign "$SG_GUN:nope" --registry-ca "$TMP/ca.crt" --signer alice
step "an unreachable registry is refused" --fail --has "unreachable" \
  -- sg sign "127.0.0.1:1/$SG_NAME:v1" --server "$URL" --registry-ca "$TMP/ca.crt" --signer alice
sg_plain_up() {
  SG_PLAIN_PORT=$(free_port)
  mkdir -p "$SG_DIR/plain/v2"
  "$PY" -m http.server --bind 127.0.0.1 --directory "$SG_DIR/plain" "$SG_PLAIN_PORT" >"$SG_DIR/plain.log" 2>&1 &
  SG_PLAIN_PID=$!
  EXTRA_PIDS+=("$SG_PLAIN_PID")
  local i
  for ((i = 0; i < 50; i++)); do
    curl -s -o /dev/null "http://127.0.0.1:$SG_PLAIN_PORT/v2/" && return 0
    sleep 0.1
  done
  return 1
}
check "a plain-HTTP server standing in for a registry" -- sg_plain_up
step "a plain-HTTP registry without --insecure is refused, naming --insecure" --fail \
  --has "does not speak HTTPS" --has "--insecure" \
  -- sg sign "127.0.0.1:$SG_PLAIN_PORT/$SG_NAME:v1" --server "$URL" --signer alice
step "a --root-key that did not sign the root is refused" --fail --has "pinned root key" \
  -- sg sign "$SG_GUN:multi" --registry-ca "$TMP/ca.crt" --signer alice \
  --root-key "$(printf 'ab%.0s' $(seq 32))"
step "a malformed --root-key is a usage error" --fail --has "--root-key" \
  -- sg sign "$SG_GUN:multi" --registry-ca "$TMP/ca.crt" --signer alice --root-key nonsense
check "nothing was published by the refused signs" -- sg_unchanged
sg_plain_manifest() {
  mkdir -p "$SG_DIR/plain/v2/$SG_NAME/manifests" &&
    skopeo inspect --raw --cert-dir "$REGISTRY_CERTS_D" "docker://$SG_GUN:v1" >"$SG_DIR/plain/v2/$SG_NAME/manifests/v1"
}
check "the plain-HTTP server serves v1's manifest" -- sg_plain_manifest
step "with --insecure the plain-HTTP registry is read (a repository of its own, --init)" \
  --has "Signed 127.0.0.1:$SG_PLAIN_PORT/$SG_NAME:v1@sha256:$SG_V1 by alice" \
  -- sg sign "127.0.0.1:$SG_PLAIN_PORT/$SG_NAME:v1" --insecure --signer alice --init

# Two signers at once on one repository: both write targets/releases, so one of them may meet
# the server's VERSION refusal and redo its change on fresh trust data; both tags end up signed.
step "skopeo pushes two more tags" -- sh -c "
  skopeo copy --quiet --dest-cert-dir '$REGISTRY_CERTS_D' 'oci:$SG_DIR/one:v1' 'docker://$SG_GUN:ca' &&
  skopeo copy --quiet --dest-cert-dir '$REGISTRY_CERTS_D' 'oci:$SG_DIR/one:v1' 'docker://$SG_GUN:cb'"
sg_race() {
  sg sign "$SG_GUN:ca" --registry-ca "$TMP/ca.crt" --signer alice >"$SG_DIR/race-a.out" 2>&1 &
  local a=$!
  sg sign "$SG_GUN:cb" --registry-ca "$TMP/ca.crt" --signer bob --trust-dir "$SG_DIR/bob-trust" >"$SG_DIR/race-b.out" 2>&1 &
  local b=$! rc=0
  wait "$a" || rc=1
  wait "$b" || rc=1
  cat "$SG_DIR/race-a.out" "$SG_DIR/race-b.out"
  return "$rc"
}
step "alice and bob sign at the same time" --has "Signed $SG_GUN:ca@sha256:$SG_V1 by alice" \
  --has "Signed $SG_GUN:cb@sha256:$SG_V1 by bob" -- sg_race
step "both tags are in targets/releases" --re "ca +$SG_V1 +[0-9]+ +targets/releases" \
  --re "cb +$SG_V1 +[0-9]+ +targets/releases" -- nfresh list "$SG_GUN" --roles targets/releases

# Revoke, as `docker trust revoke` does: the tag leaves alice's roles.
step "notarium revoke removes multi from alice's roles" --has "Revoked $SG_GUN:multi" \
  -- sg revoke "$SG_GUN:multi" --signer alice
step "docker trust inspect no longer lists multi" --lacks "multi" -- sgd trust inspect --pretty "$SG_GUN"
step "a content-trust pull of multi is refused" --fail --lacks "Pull (1 of 1)" -- sg_pull "$SG_GUN:multi"
step "v1 still resolves" --fail --has "Pull (1 of 1): $SG_GUN:v1@sha256:$SG_V1" -- sg_pull "$SG_GUN:v1"
step "revoking a tag no role holds is refused" --fail --has "is not signed in any role" \
  -- sg revoke "$SG_GUN:multi" --signer alice

# A client-held snapshot: the notary CLI takes the snapshot key back (the --init root key signs
# the new root); notarium sign then signs the snapshot too.
step "notary key rotate snapshot to the client (the --init root key signs)" \
  --has "Successfully rotated snapshot key" -- sgn key rotate "$SG_GUN" snapshot
step "sign with a client-held snapshot" --has "Signed $SG_GUN:multi@sha256:$SG_MULTI by alice" \
  -- sg sign "$SG_GUN:multi" --registry-ca "$TMP/ca.crt" --signer alice
step "notary list reads it back" --re "multi +$SG_MULTI" -- nfresh list "$SG_GUN"
step "a content-trust pull resolves multi again" --fail \
  --has "Pull (1 of 1): $SG_GUN:multi@sha256:$SG_MULTI" -- sg_pull "$SG_GUN:multi"

# A registry with token auth and its trust server sharing one token service, Notarium's own
# (`serve --auth-users`), as registries pair a notary endpoint: the distribution registry takes
# tokens chained to Notarium's token-signing certificate; `notarium sign` follows both
# challenges with the Docker config's credentials for the registry host.
if [ "$TARGET" = notarium ]; then
SG_AU_PORT=$(free_port)
SG_AU_URL="https://127.0.0.1:$SG_AU_PORT"
SG_AU_PASS="compat sign pass"
SG_AU_HASH=$("$PY" -W ignore -c 'import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))' "$SG_AU_PASS")
printf 'alice:%s\n' "$SG_AU_HASH" >"$SG_DIR/auth-users"
sg_auth_up() {
  "$NOTARIUM_BIN" serve --listen "127.0.0.1:$SG_AU_PORT" --data-dir "$SG_DIR/auth-data" \
    --tls-cert "$TMP/server.crt" --tls-key "$TMP/server.key" --auth-users "$SG_DIR/auth-users" \
    >"$SG_DIR/auth-server.log" 2>&1 </dev/null &
  SG_AU_PID=$!
  EXTRA_PIDS+=("$SG_AU_PID")
  wait_healthy "$SG_AU_URL" "$SG_AU_PID" "$SG_DIR/auth-server.log"
}
check "a trust server with its own token service (serve --auth-users)" -- sg_auth_up
SG_TR_PORT=$(free_port)
SG_TR="127.0.0.1:$SG_TR_PORT"
sg_token_registry_up() {
  local dir="$SG_DIR/token-registry"
  mkdir -p "$dir/data"
  cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: $SG_TR
  tls:
    certificate: $TMP/server.crt
    key: $TMP/server.key
auth:
  token:
    realm: $SG_AU_URL/auth/token
    service: notarium
    issuer: notarium
    rootcertbundle: $SG_DIR/auth-data/auth/token-issuer.crt
YAML
  REGISTRY_HTTP_SECRET=$(openssl rand -hex 16) docker-registry serve "$dir/config.yml" \
    >"$dir/registry.log" 2>&1 </dev/null &
  SG_TR_PID=$!
  EXTRA_PIDS+=("$SG_TR_PID")
  local i code
  for ((i = 0; i < 100; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$TMP/ca.crt" "https://$SG_TR/v2/" || true)
    [ "$code" = 401 ] && return 0
    sleep 0.2
  done
  tail -n 20 "$dir/registry.log"
  return 1
}
check "a docker-registry taking Notarium's tokens (401 without one)" -- sg_token_registry_up
SG_TGUN="$SG_TR/compat/sign-token-$RANDOM$RANDOM"
step "skopeo pushes with credentials through the token service" \
  -- skopeo copy --quiet --dest-cert-dir "$REGISTRY_CERTS_D" --dest-creds "alice:$SG_AU_PASS" \
  "oci:$SG_DIR/one:v1" "docker://$SG_TGUN:v1"
SG_TV1=$(skopeo inspect --raw --cert-dir "$REGISTRY_CERTS_D" --creds "alice:$SG_AU_PASS" "docker://$SG_TGUN:v1" 2>/dev/null | sha256sum | cut -d' ' -f1)
SG_TDOCKER="$SG_DIR/docker-token"
mkdir -p "$SG_TDOCKER/tls/127.0.0.1:$SG_AU_PORT"
cp "$TMP/ca.crt" "$SG_TDOCKER/tls/127.0.0.1:$SG_AU_PORT/ca.crt"
mkdir -p "$SG_TDOCKER/trust/private"
# alice's signer key only (the one docker trust key generate made)
for f in "$SG_TRUST"/private/*.key; do
  if grep -q '^role: alice$' "$f"; then cp "$f" "$SG_TDOCKER/trust/private/"; fi
done
sgt() {
  DOCKER_CONFIG="$SG_TDOCKER" DOCKER_CONTENT_TRUST_SERVER="$SG_AU_URL" \
    DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE="$NOTARY_ROOT_PASSPHRASE" \
    DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE="$NOTARY_TARGETS_PASSPHRASE" \
    "$NOTARIUM_BIN" "$@" --ca "$TMP/ca.crt"
}
step "without credentials the registry refuses the signer" --fail --has "401" \
  -- sgt sign "$SG_TGUN:v1" --registry-ca "$TMP/ca.crt" --signer alice --init
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$SG_TR" "$(printf 'alice:%s' "$SG_AU_PASS" | base64 -w0)" >"$SG_TDOCKER/config.json"
step "with the Docker config's credentials: sign --init through both token challenges" \
  --has "Signed $SG_TGUN:v1@sha256:$SG_TV1 by alice" \
  -- sgt sign "$SG_TGUN:v1" --registry-ca "$TMP/ca.crt" --signer alice --init
step "docker trust inspect with the same credentials shows it" --re "v1 +$SG_TV1 +alice" \
  -- env DOCKER_CONFIG="$SG_TDOCKER" DOCKER_CONTENT_TRUST_SERVER="$SG_AU_URL" docker trust inspect --pretty "$SG_TGUN"
sg_token_down() {
  stop_process "$SG_TR_PID" || true
  stop_process "$SG_AU_PID" || true
  ! kill -0 "$SG_TR_PID" 2>/dev/null && ! kill -0 "$SG_AU_PID" 2>/dev/null
}
check "the token registry and its trust server stop" -- sg_token_down
fi
sg_plain_down() {
  stop_process "$SG_PLAIN_PID" || true
  ! kill -0 "$SG_PLAIN_PID" 2>/dev/null
}
check "the plain-HTTP server stops" -- sg_plain_down
check "docker-registry stops and its certs.d entry is removed" -- registry_down
