# Docker Content Trust with the Docker 28 CLI and no daemon: `docker trust` and the tag-to-digest
# step of a content-trust pull talk to the trust server only (a pull prints
# `Pull (1 of 1): NAME:TAG@sha256:…` and then fails for want of a daemon: DOCKER_HOST names a
# socket that does not exist). The daemon flow pushes, pulls and runs images for real.
#
# An administrator (root and repository keys, signer alice) and a signer carol with her own
# Docker config and nothing but her key. Tags enter trust data with `notary addhash`, as a push
# would put them there; `docker trust sign` signs a tag already in trust data. Then the rotation
# matrix on this repository with delegations, revocation, and signer removal.

export DOCKER_CONFIG="$TMP/docker-admin"
D_CAROL="$TMP/docker-carol"
for d in "$DOCKER_CONFIG" "$D_CAROL"; do
  mkdir -p "$d/tls/$HOST"
  cp "$TMP/ca.crt" "$d/tls/$HOST/ca.crt"
done
export DOCKER_CONTENT_TRUST_SERVER="$URL"
export DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE="$NOTARY_ROOT_PASSPHRASE"
export DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE="$NOTARY_TARGETS_PASSPHRASE"
D_GUN="registry.example.com/compat/docker-$RANDOM$RANDOM"
V1=$(printf 'manifest v1' | sha256sum | cut -d' ' -f1)
V2=$(printf 'manifest v2' | sha256sum | cut -d' ' -f1)

# dn: the notary CLI on the administrator's Docker trust dir (Docker encrypts signer keys with
# the repository passphrase).
dn() {
  NOTARY_DELEGATION_PASSPHRASE="$NOTARY_TARGETS_PASSPHRASE" \
    notary -s "$URL" --tlscacert "$TMP/ca.crt" -d "$DOCKER_CONFIG/trust" "$@"
}
dcarol() { DOCKER_CONFIG="$D_CAROL" docker "$@"; }
# dfresh ARGS...: docker with a brand-new config (no trust cache, no keys).
dfresh() {
  local d
  d=$(mktemp -d "$TMP/docker-fresh.XXXXXX")
  mkdir -p "$d/tls/$HOST"
  cp "$TMP/ca.crt" "$d/tls/$HOST/ca.crt"
  DOCKER_CONFIG="$d" docker "$@"
}
dpull() { DOCKER_CONTENT_TRUST=1 dfresh pull "$@"; }
# inspect_is PYEXPR: `docker trust inspect` (fresh) of the repository, with d = its one entry.
inspect_is() {
  dfresh trust inspect "$D_GUN" >"$TMP/inspect.json" || return 1
  inspect_holds "$TMP/inspect.json" "$1"
}
# served_signed_by ROLE KEYID: the served ROLE.json carries exactly one signature, by KEYID.
served_signed_by() {
  curl -sS --fail --max-time 10 --cacert "$TMP/ca.crt" "$URL/v2/$D_GUN/_trust/tuf/$1.json" |
    "$PY" -c 'import json, sys; s = [x["keyid"] for x in json.load(sys.stdin)["signatures"]]; print(s); sys.exit(s != [sys.argv[1]])' "$2"
}

# --- keys and the first signer -----------------------------------------------------------------
step "docker trust key generate" \
  --has "Successfully generated and loaded private key. Corresponding public key available: $TMP/alice.pub" \
  -- docker trust key generate alice --dir "$TMP"
ALICE=$(pub_key_id "$TMP/alice.pub")
openssl ecparam -name prime256v1 -genkey -noout -out "$TMP/carol.pem" >>"$TMP/openssl.log" 2>&1
openssl ec -in "$TMP/carol.pem" -pubout -out "$TMP/carol.pub" >>"$TMP/openssl.log" 2>&1
CAROL=$(pub_key_id "$TMP/carol.pub")
step "docker trust key load (carol's own config)" --has "Successfully imported key from $TMP/carol.pem" \
  -- dcarol trust key load --name carol "$TMP/carol.pem"
step "docker trust signer add of a first signer initialises the repository" \
  --has "Initializing signed repository for $D_GUN..." --has "Successfully initialized \"$D_GUN\"" \
  --has "Successfully added signer: alice to $D_GUN" \
  -- docker trust signer add --key "$TMP/alice.pub" alice "$D_GUN"
check "the snapshot is signed by the server's snapshot key (Docker asks the server to hold it)" -- \
  served_signed_by snapshot "$(server_key_id "$D_GUN" snapshot)"
check "the timestamp is signed by the server's timestamp key" -- \
  served_signed_by timestamp "$(server_key_id "$D_GUN" timestamp)"
step "a fresh client sees targets/releases and targets/alice with alice's key" \
  --re "^targets/alice +\"\" <all paths> +$ALICE +1" --re "^targets/releases +\"\" <all paths> +$ALICE +1" \
  -- nfresh delegation list "$D_GUN"
step "docker trust signer add of a second signer" --has "Successfully added signer: carol to $D_GUN" \
  --lacks "Initializing" -- docker trust signer add --key "$TMP/carol.pub" carol "$D_GUN"
check "the second signer is in targets/releases and has targets/carol" -- inspect_is \
  "signers == {'alice': ['$ALICE'], 'carol': ['$CAROL']}"

# --- signing ---------------------------------------------------------------------------------
step "notary addhash puts tag v1 into trust data" --has "Successfully published changes" \
  -- dn addhash -p "$D_GUN" v1 1234 --sha256 "$V1"
step "docker trust sign of v1 by the administrator (signer alice)" \
  --has "Signing and pushing trust metadata for $D_GUN:v1" --has "Successfully signed $D_GUN:v1" \
  -- docker trust sign "$D_GUN:v1"
step "docker trust sign of v1 by carol (her key only)" \
  --has "Existing signatures for tag v1 digest $V1 from:" --has "alice" \
  --has "Successfully signed $D_GUN:v1" -- dcarol trust sign "$D_GUN:v1"
step "docker trust inspect --pretty: the tag, both signers, their keys, the administrative keys" \
  --re "^v1 +$V1 +alice, carol" --re "^alice +${ALICE:0:12}" --re "^carol +${CAROL:0:12}" \
  --re "Repository Key:"$'\t'"[0-9a-f]{64}" --re "Root Key:"$'\t'"[0-9a-f]{64}" \
  -- dfresh trust inspect --pretty "$D_GUN"
check "docker trust inspect (JSON): v1 signed by alice and carol, root and repository keys" -- inspect_is \
  "tags['v1']['Digest'] == '$V1' and tags['v1']['Signers'] == ['alice', 'carol'] and sorted(admin) == ['Repository', 'Root']"
step "a tag pushed into targets/releases (notary addhash -r, as a push does)" \
  --has "Successfully published changes" -- dn addhash -p "$D_GUN" v2 1234 --sha256 "$V2" -r targets/releases
step "a content-trust pull resolves v1 to its signed digest" --fail \
  --has "Pull (1 of 1): $D_GUN:v1@sha256:$V1" -- dpull "$D_GUN:v1"
step "a content-trust pull resolves v2" --fail --has "Pull (1 of 1): $D_GUN:v2@sha256:$V2" -- dpull "$D_GUN:v2"
step "a content-trust pull of an unsigned tag is refused" --fail \
  --has "No valid trust data for nope" --lacks "Pull (1 of 1)" -- dpull "$D_GUN:nope"

# --- the rotation matrix on a repository with delegations ------------------------------------
# after_rotation WHAT: a fresh notary client and a fresh Docker client still verify everything.
after_rotation() {
  step "after rotating $1: a fresh notary client lists v1 and v2" --re "^v1 +$V1 " --re "^v2 +$V2 .*targets/releases" \
    -- nfresh list "$D_GUN"
  step "after rotating $1: a fresh docker trust inspect shows the signed tags and signers" \
    --re "^v1 +$V1 +alice, carol" --re "^alice +${ALICE:0:12}" --re "^carol +${CAROL:0:12}" \
    -- dfresh trust inspect --pretty "$D_GUN"
  step "after rotating $1: a content-trust pull resolves v2" --fail \
    --has "Pull (1 of 1): $D_GUN:v2@sha256:$V2" -- dpull "$D_GUN:v2"
}
OLD_REPO_KEY=$(local_key_id targets "$DOCKER_CONFIG/trust" "$D_GUN")
step "key rotate targets (the repository key)" --has "Successfully rotated targets key for repository $D_GUN" \
  -- dn key rotate "$D_GUN" targets
NEW_REPO_KEY=$(local_key_id targets "$DOCKER_CONFIG/trust" "$D_GUN")
check "the repository key changed" -- test "$OLD_REPO_KEY" != "$NEW_REPO_KEY"
check "docker trust inspect shows the new repository key" -- inspect_is "admin['Repository'] == ['$NEW_REPO_KEY']"
after_rotation "the repository key"

step "key rotate snapshot (from the server to the client)" \
  --has "Successfully rotated snapshot key for repository $D_GUN" -- dn key rotate "$D_GUN" snapshot
CLIENT_SNAP=$(local_key_id snapshot "$DOCKER_CONFIG/trust" "$D_GUN")
check "the administrator now holds a snapshot key" -- test -n "$CLIENT_SNAP"
step "addhash -p signs the snapshot on the client" --has "Successfully published changes" \
  -- dn addhash -p "$D_GUN" v3 1234 --sha256 "$V1" -r targets/releases
check "the served snapshot is signed by the client's key" -- served_signed_by snapshot "$CLIENT_SNAP"
after_rotation "the snapshot key to the client"

step "key rotate snapshot -r (back to the server)" \
  --has "Successfully rotated snapshot key for repository $D_GUN" -- dn key rotate "$D_GUN" snapshot -r
step "docker trust sign with a server-held snapshot again" --has "Successfully signed $D_GUN:v3" \
  -- docker trust sign "$D_GUN:v3"
check "the served snapshot is signed by the server's key again" -- \
  served_signed_by snapshot "$(server_key_id "$D_GUN" snapshot)"
after_rotation "the snapshot key back to the server"

OLD_TS=$(server_key_id "$D_GUN" timestamp)
step "key rotate timestamp -r" --has "Successfully rotated timestamp key for repository $D_GUN" \
  -- dn key rotate "$D_GUN" timestamp -r
NEW_TS=$(server_key_id "$D_GUN" timestamp)
check "the timestamp key changed and signs the served timestamp" -- \
  bash -c "test '$OLD_TS' != '$NEW_TS' && $(declare -f served_signed_by); $(declare -p URL TMP D_GUN PY); served_signed_by timestamp '$NEW_TS'"
after_rotation "the timestamp key"

OLD_ROOT=$(dfresh trust inspect "$D_GUN" | "$PY" -c 'import json, sys; print([a for a in json.load(sys.stdin)[0]["AdministrativeKeys"] if a["Name"] == "Root"][0]["Keys"][0]["ID"])' || true)
step "key rotate root" --in <(printf 'yes\n') --has "Successfully rotated root key for repository $D_GUN" \
  -- dn key rotate "$D_GUN" root
check "docker trust inspect shows a new root key" -- inspect_is "len(admin['Root']) == 1 and admin['Root'] != ['$OLD_ROOT']"
after_rotation "the root key"
step "the administrator's own Docker client signs after every rotation" \
  --has "Successfully signed $D_GUN:v1" -- docker trust sign "$D_GUN:v1"

# --- revocation ------------------------------------------------------------------------------
step "docker trust revoke of one tag" --has "Successfully deleted signature for $D_GUN:v2" \
  -- docker trust revoke "$D_GUN:v2"
step "a content-trust pull of the revoked tag is refused" --fail \
  --has "No valid trust data for v2" --lacks "Pull (1 of 1)" -- dpull "$D_GUN:v2"
step "the other tag still resolves" --fail --has "Pull (1 of 1): $D_GUN:v1@sha256:$V1" -- dpull "$D_GUN:v1"
# addhash also put v1 into the top-level targets, where `revoke` does not look (it only edits
# delegations); drop that copy so that v1 lives where a push puts it.
step "notary remove of the top-level copy of v1" --has "Successfully published changes" \
  -- dn remove -p "$D_GUN" v1
step "docker trust revoke of the whole repository, confirmed" --in <(printf 'y\n') \
  --has "Confirm you would like to delete all signature data for $D_GUN?" \
  --has "Successfully deleted signature for $D_GUN" -- docker trust revoke "$D_GUN"
step "a content-trust pull of a tag of the revoked repository is refused" --fail \
  --re "No (valid )?trust data for v1" --lacks "Pull (1 of 1)" -- dpull "$D_GUN:v1"
check "no tag is left in targets/releases" -- inspect_is "'targets/releases' not in str(d) and all('alice' not in t['Signers'] for t in d['SignedTags'])"

# --- removing signers ------------------------------------------------------------------------
# Docker 28 removes a signer only when it is the last one that signed targets/releases and the
# prompt is answered yes; for any other signer (or with --force) it prints the first line and
# stops. See docs/compat.md.
step "docker trust signer remove of a signer that is not the last releases signer (a no-op in Docker 28)" \
  --has "Removing signer \"carol\" from $D_GUN..." --lacks "Successfully removed" \
  -- docker trust signer remove carol "$D_GUN"
step "docker trust signer remove of the last releases signer, answered no" --in <(printf 'n\n') \
  --has "The signer \"alice\" signed the last released version of $D_GUN" --lacks "Successfully removed" \
  -- docker trust signer remove alice "$D_GUN"
check "both signers are still there" -- inspect_is "sorted(signers) == ['alice', 'carol']"
step "docker trust signer remove of the last releases signer, answered yes" --in <(printf 'y\n') \
  --has "Successfully removed alice from $D_GUN" -- docker trust signer remove alice "$D_GUN"
check "only carol is left, in targets/releases and as targets/carol" -- inspect_is "signers == {'carol': ['$CAROL']}"
step "a fresh notary client no longer lists targets/alice" --lacks "targets/alice" \
  --re "^targets/releases +\"\" <all paths> +$CAROL +1" -- nfresh delegation list "$D_GUN"
unset DOCKER_CONTENT_TRUST_SERVER DOCKER_CONFIG
