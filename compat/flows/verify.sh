# Enforcement: `notarium verify` on repositories the real Docker and notary CLIs made on the
# server under test (Notarium, or with COMPAT_TARGET=notary-server the Go notary-server read as
# a remote), under several rules: Docker's pull rule, one signer, all signers, 2 of 3, pinned
# roots and signer keys right and wrong; and the refusals: unsigned, revoked, expired, a root
# that does not match its pin, a rollback (a proxy that replays an old timestamp), disagreeing
# digests, a digest no role lists. With Notarium, `serve --policy` and `POST /v1/verify` too.

VF="$TMP/verify"
mkdir -p "$VF"
VERIFY_BIN=${NOTARIUM_BIN:-$REPO_ROOT/target/debug/notarium}
# nv ARGS...: notarium verify against the server under test, with its own trust directory.
nv() { "$VERIFY_BIN" verify --server "$URL" --ca "$TMP/ca.crt" --trust-dir "$VF/trust" "$@"; }
# nv_fresh ARGS...: the same with a new, empty trust directory (a cold run).
nv_fresh() { "$VERIFY_BIN" verify --server "$URL" --ca "$TMP/ca.crt" --trust-dir "$(mktemp -d "$VF/trust-fresh.XXXXXX")" "$@"; }
digest_of() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# --- a repository made by the Docker CLI: signers alice, bob and carol --------------------------
VG="registry.example.com/compat/verify-$RANDOM$RANDOM"
VD_ADMIN="$VF/docker-admin"; VD_BOB="$VF/docker-bob"; VD_CAROL="$VF/docker-carol"
for d in "$VD_ADMIN" "$VD_BOB" "$VD_CAROL"; do
  mkdir -p "$d/tls/$HOST"
  cp "$TMP/ca.crt" "$d/tls/$HOST/ca.crt"
done
vdocker() {
  local config=$1; shift
  DOCKER_CONFIG="$config" DOCKER_CONTENT_TRUST_SERVER="$URL" \
    DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE="$NOTARY_ROOT_PASSPHRASE" \
    DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE="$NOTARY_TARGETS_PASSPHRASE" docker "$@"
}
va() { vdocker "$VD_ADMIN" "$@"; }
vb() { vdocker "$VD_BOB" "$@"; }
vc() { vdocker "$VD_CAROL" "$@"; }
# van: the notary CLI on the administrator's Docker trust dir, as a push would write tags.
van() {
  NOTARY_DELEGATION_PASSPHRASE="$NOTARY_TARGETS_PASSPHRASE" \
    notary -s "$URL" --tlscacert "$TMP/ca.crt" -d "$VD_ADMIN/trust" "$@"
}
D_ONE=$(digest_of "verify one"); D_BOTH=$(digest_of "verify both"); D_THREE=$(digest_of "verify three")
D_REVOKED=$(digest_of "verify revoked"); D_SPLIT_A=$(digest_of "split a"); D_SPLIT_B=$(digest_of "split b")
D_NEW=$(digest_of "verify new")

step "[verify] docker trust key generate alice (the administrator signs as alice)" \
  --has "Successfully generated and loaded private key" -- va trust key generate alice --dir "$VF"
for who in bob carol; do
  openssl ecparam -name prime256v1 -genkey -noout -out "$VF/$who.pem" >>"$TMP/openssl.log" 2>&1
  openssl ec -in "$VF/$who.pem" -pubout -out "$VF/$who.pub" >>"$TMP/openssl.log" 2>&1
done
step "[verify] bob loads his own key" --has "Successfully imported key" -- vb trust key load --name bob "$VF/bob.pem"
step "[verify] carol loads her own key" --has "Successfully imported key" -- vc trust key load --name carol "$VF/carol.pem"
step "[verify] docker trust signer add alice initialises the repository" \
  --has "Successfully added signer: alice to $VG" -- va trust signer add --key "$VF/alice.pub" alice "$VG"
step "[verify] docker trust signer add bob" --has "Successfully added signer: bob" \
  -- va trust signer add --key "$VF/bob.pub" bob "$VG"
step "[verify] docker trust signer add carol" --has "Successfully added signer: carol" \
  -- va trust signer add --key "$VF/carol.pub" carol "$VG"
ALICE_KEY=$(pub_key_id "$VF/alice.pub")
# Tags enter targets/releases as a push puts them there; then the signers sign them.
vf_addhash() { van addhash -p "$VG" "$1" 1234 --sha256 "$2" -r targets/releases; }
vf_tags() { vf_addhash one "$D_ONE" && vf_addhash both "$D_BOTH" && vf_addhash three "$D_THREE" && vf_addhash revoked "$D_REVOKED"; }
step "[verify] tags one, both, three and revoked enter trust data" --has "Successfully published changes" -- vf_tags
step "[verify] alice signs one" --has "Successfully signed $VG:one" -- va trust sign "$VG:one"
step "[verify] alice signs both" --has "Successfully signed $VG:both" -- va trust sign "$VG:both"
step "[verify] bob signs both" --has "Successfully signed $VG:both" -- vb trust sign "$VG:both"
step "[verify] alice signs three" --has "Successfully signed $VG:three" -- va trust sign "$VG:three"
step "[verify] bob signs three" --has "Successfully signed $VG:three" -- vb trust sign "$VG:three"
step "[verify] carol signs three" --has "Successfully signed $VG:three" -- vc trust sign "$VG:three"
step "[verify] alice signs revoked" --has "Successfully signed $VG:revoked" -- va trust sign "$VG:revoked"
step "[verify] docker trust revoke of that tag" --has "Successfully deleted signature for $VG:revoked" \
  -- va trust revoke -y "$VG:revoked"
vf_split() { vf_addhash split "$D_SPLIT_A" && van addhash -p "$VG" split 1234 --sha256 "$D_SPLIT_B"; }
step "[verify] a tag whose digest targets/releases and targets disagree on" --has "Successfully published changes" -- vf_split
va trust inspect "$VG" >"$VF/inspect.json" 2>/dev/null || true
ROOT_KEY=$("$PY" -c 'import json, sys; d = json.load(open(sys.argv[1]))[0]; print([a for a in d["AdministrativeKeys"] if a["Name"] == "Root"][0]["Keys"][0]["ID"])' "$VF/inspect.json" 2>/dev/null || echo none)
WRONG_KEY=$(printf 'not a root key' | sha256sum | cut -d' ' -f1)

# --- verdicts ----------------------------------------------------------------------------------
step "[verify] Docker's pull rule, root pinned by the ID docker trust inspect prints: one is allowed" \
  --save "$VF/one.out" --has "$VG:one@sha256:$D_ONE" -- nv_fresh --root-key "$ROOT_KEY" "$VG:one"
stdout_is() { printf 'stdout: %s\n' "$(cat "$1")"; [ "$(cat "$1")" = "$2" ]; }
check "[verify] stdout is exactly the pinned reference (for docker pull \"\$(notarium verify …)\")" -- \
  stdout_is "$VF/one.out" "$VG:one@sha256:$D_ONE"
step "[verify] several images at once, in order" --re "^$VG:one@sha256:$D_ONE\$" --re "^$VG:both@sha256:$D_BOTH\$" \
  -- nv_fresh --root-key "$ROOT_KEY" "$VG:one" "$VG:both"
step "[verify] a wrong root pin is refused (exit 1)" --fail --has "signed by a pinned root key" --lacks "@sha256:" \
  -- nv_fresh --root-key "$WRONG_KEY" "$VG:one"
step "[verify] no root pin and no --tofu: refused" --fail --has "trust on first use is off" -- nv_fresh "$VG:one"
step "[verify] --tofu trusts the first root" --has "$VG:one@sha256:$D_ONE" -- nv --tofu "$VG:one"
step "[verify] the remembered root needs no pin afterwards" --has "$VG:both@sha256:$D_BOTH" -- nv "$VG:both"
step "[verify] one signer: alice signed one" --has "$VG:one@sha256:$D_ONE" -- nv_fresh --root-key "$ROOT_KEY" --signer alice "$VG:one"
step "[verify] one signer: bob did not sign one" --fail --has "bob (targets/bob) has not signed it" \
  -- nv_fresh --root-key "$ROOT_KEY" --signer bob "$VG:one"
step "[verify] all signers: alice and bob signed both" --has "$VG:both@sha256:$D_BOTH" \
  -- nv_fresh --root-key "$ROOT_KEY" --signer alice --signer bob "$VG:both"
step "[verify] all signers: one lacks bob" --fail --has "signed by 1 of the 2 required signers" \
  -- nv_fresh --root-key "$ROOT_KEY" --signer alice --signer bob "$VG:one"
step "[verify] 2 of 3: both (alice, bob) and three (all) pass" --has "$VG:both@sha256:$D_BOTH" --has "$VG:three@sha256:$D_THREE" \
  -- nv_fresh --root-key "$ROOT_KEY" --signer alice --signer bob --signer carol --threshold 2 "$VG:both" "$VG:three"
step "[verify] 2 of 3: one (alice only) fails" --fail --has "signed by 1 of the 3 required signers (2 needed)" \
  -- nv_fresh --root-key "$ROOT_KEY" --signer alice --signer bob --signer carol --threshold 2 "$VG:one"
cat >"$VF/pinned-signer.yaml" <<YAML
rules:
  - match: "registry.example.com/compat/*"
    root:
      keys: ["$ROOT_KEY"]
    signers:
      - name: alice
        keys: ["$ALICE_KEY"]
YAML
cat >"$VF/wrong-signer.yaml" <<YAML
rules:
  - match: "registry.example.com/compat/*"
    root:
      keys: ["$ROOT_KEY"]
    signers:
      - name: alice
        keys: ["$WRONG_KEY"]
YAML
step "[verify] a policy file: alice's key pinned right" --has "$VG:one@sha256:$D_ONE" \
  -- nv_fresh --policy "$VF/pinned-signer.yaml" "$VG:one"
step "[verify] a policy file: alice's key pinned wrong" --fail --has "not signed by the pinned key" \
  -- nv_fresh --policy "$VF/wrong-signer.yaml" "$VG:one"
step "[verify] an unsigned tag is refused" --fail --has "is not signed" -- nv_fresh --root-key "$ROOT_KEY" "$VG:nope"
step "[verify] a revoked tag is refused" --fail --has "is not signed" -- nv_fresh --root-key "$ROOT_KEY" "$VG:revoked"
step "[verify] roles that disagree on a digest: refused" --fail --has "disagree on the digest" \
  -- nv_fresh --root-key "$ROOT_KEY" "$VG:split"
step "[verify] by digest only: a digest a role lists" --has "$VG@sha256:$D_BOTH" \
  -- nv_fresh --root-key "$ROOT_KEY" "$VG@sha256:$D_BOTH"
step "[verify] by digest only: a digest no role lists" --fail --has "is not signed" \
  -- nv_fresh --root-key "$ROOT_KEY" "$VG@sha256:$WRONG_KEY"
step "[verify] tag and digest: the signed one" --has "$VG:one@sha256:$D_ONE" \
  -- nv_fresh --root-key "$ROOT_KEY" "$VG:one@sha256:$D_ONE"
step "[verify] tag and digest: another digest is refused" --fail --has "not the requested" \
  -- nv_fresh --root-key "$ROOT_KEY" "$VG:one@sha256:$D_BOTH"
step "[verify] expired data: the same check 30 days on (the timestamp expires after 14)" --fail \
  --has "timestamp expired" -- nv_fresh --root-key "$ROOT_KEY" --at "$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)" "$VG:one"
step "[verify] --output json" --re '"allowed":true' --re "\"digest\":\"sha256:$D_ONE\"" --re '"role":"targets/releases"' \
  -- nv_fresh --root-key "$ROOT_KEY" --output json "$VG:one"
exits_2() { local rc=0; "$VERIFY_BIN" verify "$@" || rc=$?; echo "exit status $rc"; [ "$rc" -eq 2 ]; }
step "[verify] a usage error exits 2" --has "threshold needs --signer" --has "exit status 2" \
  -- exits_2 --server "$URL" --threshold 2 "$VG:one"
step "[verify] a malformed reference is refused" --fail --has "invalid image reference" -- nv_fresh --root-key "$ROOT_KEY" "Registry.Example.com/UPPER:x"

# --- rollback: a proxy that replays the timestamp seen before a newer publish ------------------
PROXY_PORT=$(free_port)
PROXY_URL="https://127.0.0.1:$PROXY_PORT"
mkdir -p "$VF/proxy"
"$PY" "$COMPAT_DIR/lib/replay.py" "$PROXY_PORT" "$URL" "$TMP/ca.crt" "$TMP/server.crt" "$TMP/server.key" "$VF/proxy" \
  >"$VF/proxy.log" 2>&1 </dev/null &
PROXY_PID=$!
EXTRA_PIDS+=("$PROXY_PID")
proxy_up() {
  for _ in $(seq 100); do
    curl -s -o /dev/null --max-time 2 --cacert "$TMP/ca.crt" "$PROXY_URL/v2/" && return 0
    kill -0 "$PROXY_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "the replaying proxy did not answer; its log:"; cat "$VF/proxy.log"; return 1
}
check "[verify] a replaying proxy in front of the server starts" -- proxy_up
nvp() { "$VERIFY_BIN" verify --server "$PROXY_URL" --ca "$TMP/ca.crt" --trust-dir "$VF/trust-proxy" --root-key "$ROOT_KEY" "$@"; }
curl -sS --cacert "$TMP/ca.crt" "$URL/v2/$VG/_trust/tuf/timestamp.json" -o "$VF/proxy/replay.body"
step "[verify] through the proxy: one is allowed" --has "$VG:one@sha256:$D_ONE" -- nvp "$VG:one"
step "[verify] a newer publish (tag new)" --has "Successfully published changes" -- van addhash -p "$VG" new 1234 --sha256 "$D_NEW" -r targets/releases
step "[verify] through the proxy: the new tag is seen" --has "$VG:new@sha256:$D_NEW" -- nvp "$VG:new"
printf '/v2/%s/_trust/tuf/timestamp.json' "$VG" >"$VF/proxy/replay"
step "[verify] the proxy replays the older timestamp: refused as a rollback" --fail --has "rolled back" -- nvp "$VG:one"
rm -f "$VF/proxy/replay"

# --- a repository made by the notary CLI: paths, nesting, every key rotation --------------------
VN="example.com/compat/verify-notary-$RANDOM$RANDOM"
vn() { nc_ "$VF/trust-notary" "$@"; }
printf 'app one\n' >"$VF/app-1"; printf 'nightly one\n' >"$VF/nightly-1"
H_APP=$(sha256_of "$VF/app-1"); H_NIGHTLY=$(sha256_of "$VF/nightly-1")
for k in vrel vteam vnightly; do new_cert "$k"; done
step "[verify] notary init -p" --has "Successfully published changes" -- vn init -p "$VN"
step "[verify] the server holds the snapshot key" --has "Successfully rotated snapshot key" -- vn key rotate "$VN" snapshot -r
step "[verify] delegation targets/releases, all paths" --has "Successfully published changes" \
  -- vn delegation add -p "$VN" targets/releases "$TMP/vrel.crt" --all-paths
step "[verify] delegation targets/team, paths app-" --has "Successfully published changes" \
  -- vn delegation add -p "$VN" targets/team "$TMP/vteam.crt" --paths app-
for k in vrel:targets/releases vteam:targets/team vnightly:targets/team/nightly; do
  vn key import "$TMP/${k%%:*}.key" --role "${k#*:}" >>"$VF/imports.log" 2>&1
done
step "[verify] nested delegation targets/team/nightly, paths app-nightly-" --has "Successfully published changes" \
  -- vn delegation add -p "$VN" targets/team/nightly "$TMP/vnightly.crt" --paths app-nightly-
step "[verify] app-1 signed by releases and team" --has "Successfully published changes" \
  -- vn add -p "$VN" app-1 "$VF/app-1" --roles targets/releases --roles targets/team
step "[verify] app-nightly-1 signed by team/nightly" --has "Successfully published changes" \
  -- vn add -p "$VN" app-nightly-1 "$VF/nightly-1" --roles targets/team/nightly
# The root key's ID as `notary key list` prints it (this trust dir holds one root key).
VN_ROOT=$(vn key list 2>/dev/null | awk '$1 == "root"' | grep -oE '[0-9a-f]{64}' | head -n 1)
step "[verify] notary repo: the pull rule, root pinned by notary key list's ID" --has "$VN:app-1@sha256:$H_APP" \
  -- nv_fresh --root-key "$VN_ROOT" "$VN:app-1"
step "[verify] notary repo: signer team (paths app-)" --has "$VN:app-1@sha256:$H_APP" \
  -- nv_fresh --root-key "$VN_ROOT" --signer team "$VN:app-1"
step "[verify] notary repo: nested signer team/nightly" --has "$VN:app-nightly-1@sha256:$H_NIGHTLY" \
  -- nv_fresh --root-key "$VN_ROOT" --signer team/nightly "$VN:app-nightly-1"
step "[verify] notary repo: team did not sign app-nightly-1 itself" --fail --has "has not signed it" \
  -- nv_fresh --root-key "$VN_ROOT" --signer team "$VN:app-nightly-1"
step "[verify] notary repo: 2 of releases, team, nightly for app-1" --has "$VN:app-1@sha256:$H_APP" \
  -- nv_fresh --root-key "$VN_ROOT" --signer releases --signer team --signer team/nightly --threshold 2 "$VN:app-1"
step "[verify] notary repo: remember the root (warm trust dir from here on)" --has "$VN:app-1@sha256:$H_APP" \
  -- nv --root-key "$VN_ROOT" "$VN:app-1"
for rotation in "targets" "timestamp -r" "snapshot -r" "root"; do
  # shellcheck disable=SC2086
  step "[verify] notary key rotate $rotation" --in <(printf 'yes\n') --has "Successfully rotated" \
    -- vn key rotate "$VN" $rotation
  step "[verify] after rotating ${rotation%% *}: a cold run pinned to the first root key" --has "$VN:app-1@sha256:$H_APP" \
    -- nv_fresh --root-key "$VN_ROOT" --signer team "$VN:app-1"
  step "[verify] after rotating ${rotation%% *}: the warm trust dir follows" --has "$VN:app-1@sha256:$H_APP" -- nv "$VN:app-1"
done

# --- serve --policy and POST /v1/verify (Notarium only) ----------------------------------------
if [ "$TARGET" = notarium ]; then
  VS_PORT=$(free_port); VS_URL="https://127.0.0.1:$VS_PORT"
  VS="example.com/compat/verify-served-$RANDOM"
  cat >"$VF/policy.yaml" <<YAML
rules:
  - match: "example.com/compat/**"
    root:
      tofu: true
YAML
  "$VERIFY_BIN" serve --listen "127.0.0.1:$VS_PORT" --data-dir "$VF/served" --tls-cert "$TMP/server.crt" \
    --tls-key "$TMP/server.key" --policy "$VF/policy.yaml" >"$VF/served.log" 2>&1 </dev/null &
  VS_PID=$!
  EXTRA_PIDS+=("$VS_PID")
  check "[verify] serve --policy starts" -- wait_healthy "$VS_URL" "$VS_PID" "$VF/served.log"
  vs() { notary -s "$VS_URL" --tlscacert "$TMP/ca.crt" -d "$VF/trust-served" "$@"; }
  vs_publish() { vs init -p "$VS" && vs add -p "$VS" app-1 "$VF/app-1"; }
  step "[verify] publish a repository to it" --has "Successfully published changes" -- vs_publish
  post_verify() {
    curl -sS --cacert "$TMP/ca.crt" -H 'Content-Type: application/json' --data "$1" "$VS_URL/v1/verify"
  }
  step "[verify] POST /v1/verify: a signed tag is allowed, with its digest and signer" \
    --re '"allowed":true' --has "\"digest\":\"sha256:$H_APP\"" --has '"role":"targets"' \
    -- post_verify "{\"images\": [\"$VS:app-1\"]}"
  step "[verify] POST /v1/verify: an unsigned tag is not, and says why" --re '"allowed":false' --has "is not signed" \
    -- post_verify "{\"images\": [\"$VS:nope\"]}"
  step "[verify] POST /v1/verify: no rule matches → denied" --re '"allowed":false' --has "no rule of the policy" \
    -- post_verify '{"images": ["other.example/x:1"]}'
  step "[verify] POST /v1/verify: a malformed body gets notary's error envelope" --has '"code":"MALFORMED_JSON"' \
    -- post_verify '{"images": "nope"}'
  step "[verify] a publish is seen at once (the decision cache is invalidated)" --has "Successfully published changes" \
    -- vs add -p "$VS" app-2 "$VF/nightly-1"
  step "[verify] POST /v1/verify: the new tag is allowed" --has "\"digest\":\"sha256:$H_NIGHTLY\"" \
    -- post_verify "{\"images\": [\"$VS:app-2\"]}"
  printf 'rules: [\n' >"$VF/policy.yaml"
  kill -HUP "$VS_PID"
  sleep 0.5
  step "[verify] SIGHUP with a broken policy: the old one stays in force" --re '"allowed":true' \
    -- post_verify "{\"images\": [\"$VS:app-1\"]}"
  check "[verify] the broken policy is logged" -- grep -q "the trust policy was not reloaded" "$VF/served.log"
  cat >"$VF/policy.yaml" <<YAML
rules:
  - match: "example.com/compat/**"
    root:
      keys: ["$WRONG_KEY"]
YAML
  kill -HUP "$VS_PID"
  sleep 0.5
  step "[verify] SIGHUP with a new policy: it applies at once" --re '"allowed":false' --has "pinned root key" \
    -- post_verify "{\"images\": [\"$VS:app-1\"]}"
fi
