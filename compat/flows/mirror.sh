# Leaving a hosted notary: the Go notary-server (memory storage, local signer) stands in for the
# hosted service. Repositories made there with the notary CLI (history, a delegation, a key
# rotation, one with a server-held snapshot key) are copied with `notarium mirror`, served
# read-only by Notarium to the same and to fresh clients, followed with --watch, refused when
# the source tampers with a role, and handed over with the commands `notarium mirror status`
# prints; after that, publishing to Notarium works. Notarium only.

if [ "$TARGET" = notarium ]; then
MR_GO_PORT=$(free_port)
MR_GO_URL="https://127.0.0.1:$MR_GO_PORT"
MR_PORT=$(free_port)
MR_URL="https://127.0.0.1:$MR_PORT"
MR_DATA="$TMP/mirror-data"
MR_TRUST="$TMP/trust-mirror"
MR_A="example.com/compat/mirror-a-$RANDOM"
MR_B="example.com/compat/mirror-b-$RANDOM"
MR_T="example.com/compat/mirror-tampered-$RANDOM"
# mgo / mnt CMD...: the one client, against the source and against Notarium (same trust dir).
mgo() { notary -s "$MR_GO_URL" --tlscacert "$TMP/ca.crt" -d "$MR_TRUST" "$@"; }
mnt() { notary -s "$MR_URL" --tlscacert "$TMP/ca.crt" -d "$MR_TRUST" "$@"; }
mnt_fresh() { notary -s "$MR_URL" --tlscacert "$TMP/ca.crt" -d "$TMP/trust-mirror-fresh-$RANDOM$RANDOM" "$@"; }
# COMPAT_MIRROR_DATABASE_URL (an empty PostgreSQL database) runs the mirror on PostgreSQL.
MR_DB=(--data-dir "$MR_DATA")
[ -z "${COMPAT_MIRROR_DATABASE_URL:-}" ] || MR_DB+=(--database-url "$COMPAT_MIRROR_DATABASE_URL")
mirror_cmd() { "$NOTARIUM_BIN" mirror --ca "$TMP/ca.crt" "${MR_DB[@]}" "$@"; }
# The report shows these names for the flow's servers.
# shellcheck disable=SC2016
{ report_url '$SOURCE' "$MR_GO_URL"; report_url '$MIRROR' "$MR_URL"; }
for n in 1 2 3 4 5; do printf 'mirror target %s\n' "$n" >"$TMP/mirror-$n.txt"; done
new_cert mirror-releases

cat >"$TMP/mirror-go.json" <<JSON
{
  "server": {
    "http_addr": "127.0.0.1:$MR_GO_PORT",
    "tls_cert_file": "$TMP/server.crt",
    "tls_key_file": "$TMP/server.key"
  },
  "trust_service": { "type": "local", "key_algorithm": "ecdsa" },
  "storage": { "backend": "memory" },
  "logging": { "level": "info" }
}
JSON
mr_start_go() {
  notary-server -config "$TMP/mirror-go.json" >"$TMP/mirror-go.log" 2>&1 </dev/null &
  MR_GO_PID=$!
  EXTRA_PIDS+=("$MR_GO_PID")
  wait_healthy "$MR_GO_URL" "$MR_GO_PID" "$TMP/mirror-go.log"
}
check "the source (notary-server, memory, local signer) starts" -- mr_start_go

# --- life on the source ----------------------------------------------------------------------
step "[source] init -p A" --has "Successfully published changes" -- mgo init -p "$MR_A"
step "[source] add -p a target to A" --has "Successfully published changes" -- mgo add -p "$MR_A" one "$TMP/mirror-1.txt"
step "[source] add -p another target to A" --has "Successfully published changes" -- mgo add -p "$MR_A" two "$TMP/mirror-2.txt"
step "[source] rotate A's targets key" --has "Successfully rotated targets key" -- mgo key rotate "$MR_A" targets
step "[source] delegation add targets/releases to A" --has "Successfully published changes" \
  -- mgo delegation add -p "$MR_A" targets/releases "$TMP/mirror-releases.crt" --all-paths
step "[source] the client imports the releases key" -- mgo key import "$TMP/mirror-releases.key" --role targets/releases
step "[source] publish into targets/releases of A" --has "Successfully published changes" \
  -- mgo add -p "$MR_A" rel/one "$TMP/mirror-3.txt" --roles targets/releases
step "[source] init -p B" --has "Successfully published changes" -- mgo init -p "$MR_B"
step "[source] hand B's snapshot key to the source" --has "Successfully rotated snapshot key" \
  -- mgo key rotate "$MR_B" snapshot -r
step "[source] add -p a target to B" --has "Successfully published changes" -- mgo add -p "$MR_B" one "$TMP/mirror-1.txt"
step "[source] init -p T (to be served tampered)" --has "Successfully published changes" -- mgo init -p "$MR_T"
step "[source] add -p a target to T" --has "Successfully published changes" -- mgo add -p "$MR_T" one "$TMP/mirror-1.txt"

# The Docker CLI (no daemon) on the source: `docker trust signer add` makes a repository whose
# snapshot key the source holds.
MR_D="registry.example.com/compat/mirror-docker-$RANDOM"
MR_DCFG="$TMP/docker-mirror"
for h in "127.0.0.1:$MR_GO_PORT" "127.0.0.1:$MR_PORT"; do
  mkdir -p "$MR_DCFG/tls/$h"
  cp "$TMP/ca.crt" "$MR_DCFG/tls/$h/ca.crt"
done
MR_V1=$(printf 'mirror manifest v1' | sha256sum | cut -d' ' -f1)
# mdocker SERVER ARGS...: the Docker CLI with its trust server; mdn SERVER ARGS...: the notary CLI
# on the same trust dir.
mdocker() {
  local server=$1; shift
  DOCKER_CONFIG="$MR_DCFG" DOCKER_CONTENT_TRUST_SERVER="$server" \
    DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE="$NOTARY_ROOT_PASSPHRASE" \
    DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE="$NOTARY_TARGETS_PASSPHRASE" docker "$@"
}
mdn() {
  local server=$1; shift
  # Docker encrypts every key but the root's with the repository passphrase.
  NOTARY_DELEGATION_PASSPHRASE="$NOTARY_TARGETS_PASSPHRASE" \
    NOTARY_SNAPSHOT_PASSPHRASE="$NOTARY_TARGETS_PASSPHRASE" \
    notary -s "$server" --tlscacert "$TMP/ca.crt" -d "$MR_DCFG/trust" "$@"
}
mdpull() {
  local d
  d=$(mktemp -d "$TMP/docker-mirror-fresh.XXXXXX")
  cp -r "$MR_DCFG/tls" "$d/tls"
  DOCKER_CONFIG="$d" DOCKER_CONTENT_TRUST=1 DOCKER_CONTENT_TRUST_SERVER="$MR_URL" docker pull "$@"
}
step "[source] docker trust key generate" --has "Successfully generated and loaded private key" \
  -- mdocker "$MR_GO_URL" trust key generate mirrordev --dir "$TMP"
step "[source] docker trust signer add initialises D (server-held snapshot)" \
  --has "Successfully added signer: mirrordev to $MR_D" \
  -- mdocker "$MR_GO_URL" trust signer add --key "$TMP/mirrordev.pub" mirrordev "$MR_D"
step "[source] a tag of D in targets/releases (as a push puts it)" --has "Successfully published changes" \
  -- mdn "$MR_GO_URL" addhash -p "$MR_D" v1 1234 --sha256 "$MR_V1" -r targets/releases

# --- the mirror ------------------------------------------------------------------------------
step "mirror copies A and B with their history; A's timestamp and B's snapshot are the source's" \
  --re "mirrored $MR_A from [^ ]+: [0-9]+ files \\([0-9]+ new\\); held by the source: timestamp;" \
  --re "mirrored $MR_B from [^ ]+: [0-9]+ files \\([0-9]+ new\\); held by the source: snapshot, timestamp;" \
  --re "mirrored $MR_D from [^ ]+: [0-9]+ files \\([0-9]+ new\\); held by the source: snapshot, timestamp;" \
  -- mirror_cmd --from "$MR_GO_URL" --gun "$MR_A" --gun "$MR_B" --gun "$MR_D"
step "a second mirror run stores nothing new" --re "mirrored $MR_A from [^ ]+: [0-9]+ files \\(0 new\\)" \
  -- mirror_cmd --from "$MR_GO_URL" --gun "$MR_A"
mr_compare_history() {
  # Every version of A's targets the source serves is stored here byte for byte.
  local v
  for v in 1 2 3; do
    cmp <(curl -sf --cacert "$TMP/ca.crt" "$MR_GO_URL/v2/$MR_A/_trust/tuf/$v.targets.json") \
      <(curl -sf --cacert "$TMP/ca.crt" "$MR_URL/v2/$MR_A/_trust/tuf/$v.targets.json") || return 1
  done
  cmp <(curl -sf --cacert "$TMP/ca.crt" "$MR_GO_URL/v2/$MR_A/_trust/tuf/timestamp.json") \
    <(curl -sf --cacert "$TMP/ca.crt" "$MR_URL/v2/$MR_A/_trust/tuf/timestamp.json") && echo same
}

# A proxy that flips one byte in every targets file the source serves.
cat >"$TMP/mirror-tamper.py" <<'PY'
import http.server, ssl, sys, urllib.request
source, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
class Tamper(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            with urllib.request.urlopen(source + self.path, context=ctx) as r:
                body, status = r.read(), r.status
        except urllib.error.HTTPError as e:
            body, status = e.read(), e.code
        if status == 200 and "targets" in self.path and b'"one"' in body:
            body = body.replace(b'"one"', b'"onf"', 1)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), Tamper).serve_forever()
PY
MR_TAMPER_PORT=$(free_port)
# shellcheck disable=SC2016
report_url '$TAMPERING' "http://127.0.0.1:$MR_TAMPER_PORT"
"$PY" "$TMP/mirror-tamper.py" "$MR_GO_URL" "$MR_TAMPER_PORT" "$TMP/ca.crt" >"$TMP/mirror-tamper.log" 2>&1 &
EXTRA_PIDS+=("$!")
sleep 0.5
step "a source serving a tampered targets file is refused for that GUN, nothing stored" --fail \
  --has "not mirrored $MR_T" -- mirror_cmd --from "http://127.0.0.1:$MR_TAMPER_PORT" --gun "$MR_T"

mr_start() {
  "$NOTARIUM_BIN" serve --listen "127.0.0.1:$MR_PORT" "${MR_DB[@]}" \
    --tls-cert "$TMP/server.crt" --tls-key "$TMP/server.key" >"$TMP/mirror-server.log" 2>&1 </dev/null &
  MR_PID=$!
  EXTRA_PIDS+=("$MR_PID")
  wait_healthy "$MR_URL" "$MR_PID" "$TMP/mirror-server.log"
}
check "Notarium serves the mirror" -- mr_start
check "the copied history and timestamp are the source's bytes" --has same -- mr_compare_history
step "nothing of the tampered GUN is served" --fail --has "does not have trust data" -- mnt_fresh list "$MR_T"
step "the same client lists A on Notarium" --has "one" --has "two" --has "rel/one" -- mnt list "$MR_A"
step "a fresh client lists A on Notarium" --has "one" --has "two" --has "rel/one" -- mnt_fresh list "$MR_A"
step "a fresh client looks up B's target on Notarium" --has "one" -- mnt_fresh lookup "$MR_B" one
step "a content-trust pull of D on Notarium resolves v1 (no daemon)" --fail \
  --has "Pull (1 of 1): $MR_D:v1@sha256:$MR_V1" -- mdpull "$MR_D:v1"
step "an update to A before the handover is refused with the handover step" --fail \
  --has "mirrored from $MR_GO_URL" --has "key rotate $MR_A timestamp -r" \
  -- mnt add -p "$MR_A" three "$TMP/mirror-3.txt"
mnt reset "$MR_A" --all >/dev/null 2>&1 || true
step "mirror status lists A and B with the roles to move, the deadline and the commands" \
  --re "$MR_A: mirrored from [^ ]+; held by the source: timestamp; deadline [0-9T:+-]+" \
  --has "notary -s $MR_URL key rotate $MR_A timestamp -r" \
  --has "notary -s $MR_GO_URL key rotate $MR_B snapshot" \
  --has "notary -s $MR_URL key rotate $MR_B timestamp -r" \
  -- "$NOTARIUM_BIN" mirror status --server "$MR_URL" "${MR_DB[@]}"

# --- following the source ----------------------------------------------------------------------
mr_watch_start() {
  "$NOTARIUM_BIN" mirror --ca "$TMP/ca.crt" "${MR_DB[@]}" --from "$MR_GO_URL" --gun "$MR_B" \
    --watch 1s >"$TMP/mirror-watch.log" 2>&1 </dev/null &
  MR_WATCH_PID=$!
  EXTRA_PIDS+=("$MR_WATCH_PID")
  sleep 1
  kill -0 "$MR_WATCH_PID"
}
check "mirror --watch follows B (the source's changefeed)" -- mr_watch_start
step "[source] a publish to B during the move" --has "Successfully published changes" \
  -- mgo add -p "$MR_B" two "$TMP/mirror-2.txt"
mr_arrived() {
  local _
  for _ in $(seq 40); do
    if mnt_fresh list "$MR_B" 2>/dev/null | grep -q '^two '; then echo arrived; return 0; fi
    sleep 0.5
  done
  cat "$TMP/mirror-watch.log"
  return 1
}
check "the publish arrives on Notarium" --has arrived -- mr_arrived
mr_watch_stop() { stop_process "$MR_WATCH_PID"; }
check "the watch stops when asked" -- mr_watch_stop

# --- a source with token auth (Notarium with --auth-users) -------------------------------------
MR_AU_PORT=$(free_port)
MR_AU_URL="https://127.0.0.1:$MR_AU_PORT"
MR_AU_PASS="compat mirror pass"
MR_AU_GUN="example.com/compat/mirror-auth-$RANDOM"
# shellcheck disable=SC2016
report_url '$AUTH_SOURCE' "$MR_AU_URL"
MR_AU_HASH=$("$PY" -W ignore -c 'import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))' "$MR_AU_PASS")
printf 'alice:%s\n' "$MR_AU_HASH" >"$TMP/mirror-auth-users"
mr_au_start() {
  "$NOTARIUM_BIN" serve --listen "127.0.0.1:$MR_AU_PORT" --data-dir "$TMP/mirror-auth-data" \
    --tls-cert "$TMP/server.crt" --tls-key "$TMP/server.key" --auth-users "$TMP/mirror-auth-users" \
    >"$TMP/mirror-auth.log" 2>&1 </dev/null &
  EXTRA_PIDS+=("$!")
  wait_healthy "$MR_AU_URL" "$!" "$TMP/mirror-auth.log"
}
check "a source with token auth starts" -- mr_au_start
step "[auth source] init -p a repository with credentials" --has "Successfully published changes" \
  -- env NOTARY_AUTH="$(printf 'alice:%s' "$MR_AU_PASS" | base64 -w0)" \
  notary -s "$MR_AU_URL" --tlscacert "$TMP/ca.crt" -d "$TMP/trust-mirror-auth" init -p "$MR_AU_GUN"
step "mirror without credentials is refused by the source" --fail --has "not mirrored $MR_AU_GUN" \
  -- mirror_cmd --from "$MR_AU_URL" --gun "$MR_AU_GUN"
step "mirror with --username (password in NOTARIUM_PASSWORD) copies it" \
  --has "mirrored $MR_AU_GUN from $MR_AU_URL" \
  -- env NOTARIUM_PASSWORD="$MR_AU_PASS" "$NOTARIUM_BIN" mirror --ca "$TMP/ca.crt" "${MR_DB[@]}" \
  --from "$MR_AU_URL" --gun "$MR_AU_GUN" --username alice
mr_metrics() { curl -sf --cacert "$TMP/ca.crt" "$MR_URL/metrics" | grep '^notarium_mirror_deadline_seconds'; }
check "/metrics: each mirrored repository's deadline, about 14 days away" \
  --re "notarium_mirror_deadline_seconds\\{gun=\"$MR_A\"\\} 1[0-9]{6}" \
  --re "notarium_mirror_deadline_seconds\\{gun=\"$MR_D\"\\} 1[0-9]{6}" -- mr_metrics

# --- the handover ----------------------------------------------------------------------------
# A handover step is two writes (the rotated root, then the mirror record). Around A's step the
# record is saved and put back afterwards, as a crash between the two writes would leave it: the
# next update must complete the step from the stored root rather than refuse.
mr_record() { # save|restore GUN
  if [ -n "${COMPAT_MIRROR_DATABASE_URL:-}" ]; then
    case $1 in
      save) psql "$COMPAT_MIRROR_DATABASE_URL" -Atqc \
        "SELECT source, server_roles, created_at FROM mirrored_repos WHERE gun = '$2'" >"$TMP/mirror-record" ;;
      restore) IFS='|' read -r src roles created <"$TMP/mirror-record"
        psql "$COMPAT_MIRROR_DATABASE_URL" -qc "INSERT INTO mirrored_repos (gun, source, server_roles, created_at) \
          VALUES ('$2', '$src', '$roles', '$created') ON CONFLICT (gun) DO NOTHING" ;;
    esac
  else
    python3 - "$1" "$MR_DATA/notarium.db" "$2" "$TMP/mirror-record" <<'PY'
import json, sqlite3, sys
action, db, gun, saved = sys.argv[1:]
conn = sqlite3.connect(db)
if action == "save":
    row = conn.execute("SELECT source, server_roles, created_at FROM mirrored_repos WHERE gun = ?", (gun,)).fetchone()
    json.dump(row, open(saved, "w"))
else:
    conn.execute("INSERT OR IGNORE INTO mirrored_repos VALUES (?, ?, ?, ?)", [gun] + json.load(open(saved)))
    conn.commit()
PY
  fi
}
mr_record save "$MR_A"
step "[handover] A's timestamp key moves to Notarium" --has "Successfully rotated timestamp key" \
  -- mnt key rotate "$MR_A" timestamp -r
mr_record_back() { mr_record restore "$MR_A" && "$NOTARIUM_BIN" mirror status --server "$MR_URL" "${MR_DB[@]}"; }
check "[handover] A's mirror record put back, as a crash after the root's write leaves it" \
  --has "$MR_A:" -- mr_record_back
step "[handover] A is native: publishing to Notarium works" --has "Successfully published changes" \
  -- mnt add -p "$MR_A" three "$TMP/mirror-3.txt"
step "[handover] a fresh client lists A with the new target" --has "three" --has "rel/one" -- mnt_fresh list "$MR_A"
check "[handover] /metrics no longer lists A" --lacks "\"$MR_A\"" --has "\"$MR_B\"" -- mr_metrics
step "[handover] mirror status no longer lists A" --lacks "$MR_A:" --has "$MR_B:" \
  -- "$NOTARIUM_BIN" mirror status --server "$MR_URL" "${MR_DB[@]}"

step "[handover] D: the owner takes the snapshot key on the source" --has "Successfully rotated snapshot key" \
  -- mdn "$MR_GO_URL" key rotate "$MR_D" snapshot
step "[handover] D: the mirror follows (only the timestamp is the source's now)" \
  --re "mirrored $MR_D from [^ ]+: [0-9]+ files \\([0-9]+ new\\); held by the source: timestamp;" \
  -- mirror_cmd --from "$MR_GO_URL" --gun "$MR_D"
step "[handover] D's timestamp key moves to Notarium" --has "Successfully rotated timestamp key" \
  -- mdn "$MR_URL" key rotate "$MR_D" timestamp -r
step "[handover] D: docker trust sign of v1 on Notarium" --has "Successfully signed $MR_D:v1" \
  -- mdocker "$MR_URL" trust sign "$MR_D:v1"
step "[handover] D: the snapshot key goes to Notarium too" --has "Successfully rotated snapshot key" \
  -- mdn "$MR_URL" key rotate "$MR_D" snapshot -r
step "[handover] D: a content-trust pull still resolves v1" --fail \
  --has "Pull (1 of 1): $MR_D:v1@sha256:$MR_V1" -- mdpull "$MR_D:v1"
fi
