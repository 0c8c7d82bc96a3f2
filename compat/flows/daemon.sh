# Docker Content Trust end to end with a Docker daemon: the Docker 28 CLI drives Debian's dockerd
# 20.10 and docker-registry (lib/dockerd.sh) and signs with the trust server under test. One
# daemon, one registry and one tiny busybox image for the whole flow (tags are retags or labelled
# variants sharing its one layer, so pushes upload no layer twice).
#
# An administrator (root and repository keys) pushes a new repository and a new tag with content
# trust; signer alice, with a Docker config holding nothing but her key, pushes and
# `docker trust sign`s a tag the trust data does not have yet. Content-trust pulls, runs and
# legacy builds resolve a tag to its signed digest and fetch that; an unsigned tag and a revoked
# one are refused. Then the rotation matrix (repository key, snapshot to the client and back,
# timestamp, root) with a real pull after each rotation.

# shellcheck source=../lib/dockerd.sh
. "$COMPAT_DIR/lib/dockerd.sh"

DX="$TMP/daemon"
DX_ADMIN="$DX/docker-admin"
DX_ALICE="$DX/docker-alice"
for d in "$DX_ADMIN" "$DX_ALICE"; do
  mkdir -p "$d/tls/$HOST"
  cp "$TMP/ca.crt" "$d/tls/$HOST/ca.crt"
done
export DOCKER_CONFIG="$DX_ADMIN"
export DOCKER_CONTENT_TRUST_SERVER="$URL"
export DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE="$NOTARY_ROOT_PASSPHRASE"
export DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE="$NOTARY_TARGETS_PASSPHRASE"

# dtrust: Docker with content trust, as the administrator. dalice: the same with alice's config.
dtrust() { DOCKER_CONTENT_TRUST=1 docker "$@"; }
dalice() { DOCKER_CONTENT_TRUST=1 DOCKER_CONFIG="$DX_ALICE" docker "$@"; }
# dtrust_fresh ARGS...: Docker with content trust and a brand-new config (no trust cache, no keys).
dtrust_fresh() {
  local d
  d=$(mktemp -d "$DX/docker-fresh.XXXXXX")
  mkdir -p "$d/tls/$HOST"
  cp "$TMP/ca.crt" "$d/tls/$HOST/ca.crt"
  DOCKER_CONTENT_TRUST=1 DOCKER_CONFIG="$d" docker "$@"
}
# dxn: the notary CLI on the administrator's Docker trust dir.
dxn() {
  NOTARY_DELEGATION_PASSPHRASE="$NOTARY_TARGETS_PASSPHRASE" \
    notary -s "$URL" --tlscacert "$TMP/ca.crt" -d "$DX_ADMIN/trust" "$@"
}
# untag REF: the daemon forgets REF (and its digest reference), so that the next pull really
# fetches from the registry.
untag() {
  docker image rm "$1" >/dev/null 2>&1 || true
  ! docker image inspect "$1" >/dev/null 2>&1
}
repull() { untag "$1" && dtrust_fresh pull "$1"; }
# rerun REF CMD...: docker run --rm with content trust and a fresh config, REF not on the daemon.
rerun() { local ref=$1; shift; untag "$ref" && dtrust_fresh run --rm "$ref" "$@"; }
# push_as WHO TAG [VARIANT]: tag the image as APP:TAG and push it with content trust.
push_as() { image_make "$APP:$2" "${3:-}" && "$1" push "$APP:$2"; }
# pushed_digest TAG: the digest the last push printed for TAG (`TAG: digest: sha256:… size: N`).
pushed_digest() { sed -n "s/^$1: digest: sha256:\([0-9a-f]\{64\}\) size: .*/\1/p" "$LAST_OUT" | head -n 1; }
# inspect_app PYEXPR: `docker trust inspect` (fresh) of APP, as docker.sh's inspect_is.
inspect_app() {
  dtrust_fresh trust inspect "$APP" >"$DX/inspect.json" || return 1
  inspect_holds "$DX/inspect.json" "$1"
}
signed_digest() {
  dtrust_fresh trust inspect "$APP" |
    "$PY" -c 'import json, sys; print({t["SignedTag"]: t["Digest"] for t in json.load(sys.stdin)[0]["SignedTags"]}.get(sys.argv[1], ""))' "$1"
}
# same_digest TAG PUSHED [OTHER]: trust data signs for TAG the digest the push printed, the
# registry serves that manifest digest for TAG (and it is not OTHER, another tag's).
same_digest() {
  local signed served
  signed=$(signed_digest "$1")
  served=$(registry_digest "$APP:$1")
  echo "pushed: sha256:$2; signed: sha256:$signed; registry: $served"
  [ -n "$2" ] && [ "$signed" = "$2" ] && [ "$served" = "sha256:$2" ] && [ "$2" != "${3:-}" ]
}
# repo_digest_is REF DIGEST: the daemon's image for REF came by DIGEST from APP.
repo_digest_is() {
  local got
  got=$(docker image inspect --format '{{json .RepoDigests}}' "$1") || return 1
  echo "RepoDigests of $1: $got"
  case "$got" in *"\"$APP@sha256:$2\""*) return 0 ;; esac
  return 1
}
# app_signed_by ROLE KEYID: the served ROLE.json of APP carries exactly one signature, by KEYID.
app_signed_by() {
  curl -sS --fail --max-time 10 --cacert "$TMP/ca.crt" "$URL/v2/$APP/_trust/tuf/$1.json" |
    "$PY" -c 'import json, sys; s = [x["keyid"] for x in json.load(sys.stdin)["signatures"]]; print(s); sys.exit(s != [sys.argv[1]])' "$2"
}
# build_from FROM TAG [docker]: a legacy build (no BuildKit) of `FROM FROM` plus a RUN of busybox,
# with content trust and a fresh config (or, with a third argument, plain docker without trust).
build_from() {
  local ctx
  ctx=$(mktemp -d "$DX/build.XXXXXX")
  printf 'FROM %s\nRUN ["/bin/busybox", "true"]\n' "$1" >"$ctx/Dockerfile"
  if [ -n "${3:-}" ]; then
    DOCKER_BUILDKIT=0 docker build -t "$2" "$ctx"
  else
    DOCKER_BUILDKIT=0 dtrust_fresh build -t "$2" "$ctx"
  fi
}

# --- a daemon, a registry and an image of the suite's own ------------------------------------
# A short directory: dockerd and containerd put unix sockets under it.
DX_DIR=$(mktemp -d /tmp/cdd.XXXXXX)
check "dockerd starts on a socket of its own (vfs, no networking, its own containerd)" -- dockerd_up "$DX_DIR"
check "docker-registry serves TLS on a loopback port (CA in /etc/docker/certs.d/HOST:PORT)" -- registry_up
APP="$REGISTRY/compat/app"
check "a tiny image made locally from busybox-static (no base image can be pulled)" -- image_make "$APP:1"
step "the image runs busybox (no content trust)" --has "busybox runs" -- docker run --rm "$APP:1" echo "busybox runs"

# --- pushes with content trust -----------------------------------------------------------------
step "a content-trust push of a new repository initialises its trust data and signs tag 1" \
  --re "^1: digest: sha256:[0-9a-f]{64} size: [0-9]+" --has "Signing and pushing trust metadata" \
  --has "Finished initializing \"$APP\"" --has "Successfully signed $APP:1" -- dtrust push "$APP:1"
D1=$(pushed_digest 1 || true)
step "the administrator holds root and repository keys, no snapshot key" \
  --re "^root " --re "^targets +[^ ]*compat/app " --no-re "^snapshot " -- dxn key list
check "the server holds the snapshot key: it signs the served snapshot" -- \
  app_signed_by snapshot "$(server_key_id "$APP" snapshot)"
check "the signed digest of 1 is the pushed one and the registry's manifest digest (skopeo)" -- same_digest 1 "$D1"
step "a content-trust push of a new tag by the administrator signs it" --re "^2: digest: sha256:" \
  --has "Successfully signed $APP:2" --lacks "Initializing" -- push_as dtrust 2 two
D2=$(pushed_digest 2 || true)
check "the signed digest of 2 is the pushed one, the registry's, and not 1's" -- same_digest 2 "$D2" "$D1"

# --- a signer with her own config --------------------------------------------------------------
step "alice generates her key in her own Docker config" \
  --has "Successfully generated and loaded private key. Corresponding public key available: $DX/alice.pub" \
  -- dalice trust key generate alice --dir "$DX"
ALICE=$(pub_key_id "$DX/alice.pub" 2>/dev/null || true)
# only_key CONFIG KEYID: the Docker config CONFIG holds one private key, KEYID.
only_key() {
  local keys
  keys=$(ls "$1/trust/private") || return 1
  echo "private keys: $keys"
  [ "$keys" = "$2.key" ]
}
check "alice's config holds one private key, hers" -- only_key "$DX_ALICE" "$ALICE"
step "docker trust signer add alice (the administrator)" --has "Successfully added signer: alice to $APP" \
  -- docker trust signer add --key "$DX/alice.pub" alice "$APP"
step "alice's content-trust push of tag 3 is signed with her key" --re "^3: digest: sha256:" \
  --has "Successfully signed $APP:3" -- push_as dalice 3 three
D3=$(pushed_digest 3 || true)
check "docker trust inspect: 3 is signed by alice with the pushed digest, 1 and 2 by the repository key" -- inspect_app \
  "tags['3']['Signers'] == ['alice'] and tags['3']['Digest'] == '$D3' and tags['1']['Signers'] == ['Repo Admin'] and tags['2']['Signers'] == ['Repo Admin'] and signers == {'alice': ['$ALICE']}"
# A tag only on the daemon: `docker trust sign` pushes it first, then signs the pushed digest.
sign_new() { image_make "$APP:$1" "$2" && dalice trust sign "$APP:$1"; }
step "docker trust sign of a tag not yet in trust data pushes it and signs it (alice)" \
  --has "Signing and pushing trust data for local image $APP:4, may overwrite remote trust data" \
  --re "^4: digest: sha256:" --has "Successfully signed $APP:4" -- sign_new 4 four
D4=$(pushed_digest 4 || true)
check "the signed digest of 4 is the pushed one and the registry's" -- same_digest 4 "$D4"
check "docker trust inspect: 4 is signed by alice" -- inspect_app "tags['4']['Signers'] == ['alice'] and tags['4']['Digest'] == '$D4'"

# --- content-trust pulls -------------------------------------------------------------------------
step "a content-trust pull of 1 (not on the daemon) fetches its signed digest from the registry" \
  --has "Pull (1 of 1): $APP:1@sha256:$D1" --has "Status: Downloaded newer image for $APP@sha256:$D1" \
  --has "Tagging $APP@sha256:$D1 as $APP:1" -- repull "$APP:1"
check "docker image inspect: the pulled 1 came by its signed digest" -- repo_digest_is "$APP:1" "$D1"
step "a content-trust pull of alice's 3 fetches its signed digest" \
  --has "Pull (1 of 1): $APP:3@sha256:$D3" --has "Status: Downloaded newer image for $APP@sha256:$D3" -- repull "$APP:3"
check "docker image inspect: the pulled 3 came by its signed digest" -- repo_digest_is "$APP:3" "$D3"
step "a push without content trust (tag unsigned) signs nothing" --re "^unsigned: digest: sha256:" \
  --lacks "Signing" -- push_as docker unsigned plain
check "the registry serves the unsigned tag" -- registry_digest "$APP:unsigned"
step "a content-trust pull of the unsigned tag is refused" --fail \
  --has "No valid trust data for unsigned" --lacks "Pull (1 of 1)" --lacks "Pulling from" -- repull "$APP:unsigned"
step "alice revokes 3" --has "Successfully deleted signature for $APP:3" -- dalice trust revoke -y "$APP:3"
check "the registry still serves 3" -- registry_digest "$APP:3"
step "a content-trust pull of the revoked 3 is refused" --fail \
  --has "No valid trust data for 3" --lacks "Pull (1 of 1)" --lacks "Pulling from" -- repull "$APP:3"

# --- docker run and docker build with content trust --------------------------------------------
step "a content-trust docker run of 1 pulls its signed digest and runs busybox" \
  --has "$APP@sha256:$D1: Pulling from compat/app" --has "Tagging $APP@sha256:$D1 as $APP:1" \
  --has "ran the signed image" -- rerun "$APP:1" echo "ran the signed image"
run_local() { local ref=$1; shift; image_make "$ref" local && dtrust_fresh run --rm "$ref" "$@"; }
step "a content-trust docker run of the unsigned tag is refused, though the image is on the daemon" --fail \
  --has "No valid trust data for unsigned" --lacks "ran the unsigned image" \
  -- run_local "$APP:unsigned" echo "ran the unsigned image"
step "a content-trust docker run of the revoked 3 is refused" --fail --has "No valid trust data for 3" \
  --lacks "Pulling from" --lacks "ran the revoked image" -- rerun "$APP:3" echo "ran the revoked image"
step "a content-trust legacy build (DOCKER_BUILDKIT=0) pins FROM 1 to its signed digest" \
  --has "Step 1/2 : FROM $APP@sha256:$D1" --has "Successfully tagged compat/built:signed" \
  -- build_from "$APP:1" compat/built:signed
step "a content-trust legacy build FROM the unsigned tag is refused" --fail \
  --has "No valid trust data for unsigned" --lacks "Successfully built" -- build_from "$APP:unsigned" compat/built:unsigned
step "without content trust the same build uses the unsigned tag as it is" \
  --has "Step 1/2 : FROM $APP:unsigned" --has "Successfully tagged compat/built:unsigned" \
  -- build_from "$APP:unsigned" compat/built:unsigned docker

# --- the rotation matrix, with a real pull after each rotation -----------------------------------
# after_rotation WHAT: fresh content-trust pulls of 1 (signed with the repository key) and of 4
# (alice's, in targets/releases and targets/alice) fetch their signed digests.
after_rotation() {
  step "after rotating $1: a fresh content-trust pull of 1 fetches its signed digest" \
    --has "Pull (1 of 1): $APP:1@sha256:$D1" --has "Status: Downloaded newer image for $APP@sha256:$D1" -- repull "$APP:1"
  step "after rotating $1: a fresh content-trust pull of alice's 4 fetches its signed digest" \
    --has "Pull (1 of 1): $APP:4@sha256:$D4" --has "Status: Downloaded newer image for $APP@sha256:$D4" -- repull "$APP:4"
}
OLD_REPO_KEY=$(local_key_id targets "$DX_ADMIN/trust" "$APP" || true)
step "key rotate targets (the repository key)" --has "Successfully rotated targets key for repository $APP" \
  -- dxn key rotate "$APP" targets
NEW_REPO_KEY=$(local_key_id targets "$DX_ADMIN/trust" "$APP" || true)
check "docker trust inspect shows the new repository key" -- \
  inspect_app "'$OLD_REPO_KEY' != '$NEW_REPO_KEY' and admin['Repository'] == ['$NEW_REPO_KEY']"
after_rotation "the repository key"

step "key rotate snapshot (from the server to the administrator)" \
  --has "Successfully rotated snapshot key for repository $APP" -- dxn key rotate "$APP" snapshot
CLIENT_SNAP=$(local_key_id snapshot "$DX_ADMIN/trust" "$APP" || true)
step "the administrator publishes a snapshot signed by its own key" --has "Successfully published changes" \
  -- dxn publish "$APP"
check "the served snapshot is signed by the administrator's key" -- app_signed_by snapshot "$CLIENT_SNAP"
after_rotation "the snapshot key to the administrator"

step "key rotate snapshot -r (back to the server)" \
  --has "Successfully rotated snapshot key for repository $APP" -- dxn key rotate "$APP" snapshot -r
step "alice's content-trust push of 5 with a server-held snapshot again" --re "^5: digest: sha256:" \
  --has "Successfully signed $APP:5" -- push_as dalice 5 five
D5=$(pushed_digest 5 || true)
check "the served snapshot is signed by the server's key again" -- \
  app_signed_by snapshot "$(server_key_id "$APP" snapshot)"
after_rotation "the snapshot key back to the server"

OLD_TS=$(server_key_id "$APP" timestamp || true)
step "key rotate timestamp -r" --has "Successfully rotated timestamp key for repository $APP" \
  -- dxn key rotate "$APP" timestamp -r
ts_rotated() {
  local new
  new=$(server_key_id "$APP" timestamp) || return 1
  echo "timestamp key: $OLD_TS -> $new"
  [ "$new" != "$OLD_TS" ] && app_signed_by timestamp "$new"
}
check "the timestamp key changed and signs the served timestamp" -- ts_rotated
after_rotation "the timestamp key"

OLD_ROOT=$(dtrust_fresh trust inspect "$APP" 2>/dev/null | "$PY" -c 'import json, sys; print([a for a in json.load(sys.stdin)[0]["AdministrativeKeys"] if a["Name"] == "Root"][0]["Keys"][0]["ID"])' || true)
step "key rotate root" --in <(printf 'yes\n') --has "Successfully rotated root key for repository $APP" \
  -- dxn key rotate "$APP" root
check "docker trust inspect shows a new root key" -- inspect_app "len(admin['Root']) == 1 and admin['Root'] != ['$OLD_ROOT']"
after_rotation "the root key"
step "after every rotation alice's content-trust push of 6 is signed" --re "^6: digest: sha256:" \
  --has "Successfully signed $APP:6" -- push_as dalice 6 six
D6=$(pushed_digest 6 || true)
step "a fresh content-trust pull of 6 fetches its signed digest" \
  --has "Pull (1 of 1): $APP:6@sha256:$D6" --has "Status: Downloaded newer image for $APP@sha256:$D6" -- repull "$APP:6"
step "a fresh content-trust pull of 5 (pushed before the last rotations) fetches its signed digest" \
  --has "Pull (1 of 1): $APP:5@sha256:$D5" --has "Status: Downloaded newer image for $APP@sha256:$D5" -- repull "$APP:5"

# --- stop what the flow started ------------------------------------------------------------------
check "docker-registry stops and its certs.d entry is removed" -- registry_down
check "the daemon and its containerd stop and their directory is removed" -- dockerd_down
unset DOCKER_CONFIG DOCKER_CONTENT_TRUST_SERVER
