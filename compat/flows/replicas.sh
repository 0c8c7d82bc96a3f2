# Two `notarium serve` replicas on one PostgreSQL database, raced by real notary clients:
# publishes to different GUNs through both at once, two delegates publishing to one GUN through
# different replicas at once while readers read through both, and every read a valid,
# consistent repository.
#
# Needs COMPAT_POSTGRES_URL (postgres://USER@HOST:PORT/DB of a database to create others from;
# .ci/test sets it).

if [ "$TARGET" = notarium ]; then
if [ -z "${COMPAT_POSTGRES_URL:-}" ]; then
  echo "# replicas flow: COMPAT_POSTGRES_URL is not set; the two-replica flow did not run"
  if [ "${CI:-}" = true ]; then
    check "the two-replica flow has a PostgreSQL server (COMPAT_POSTGRES_URL)" -- false
  fi
else
RP_DB="notarium_replicas_$$_$RANDOM"
RP_DB_URL=$(url_with_database "$COMPAT_POSTGRES_URL" "$RP_DB")
CLEANUP_CMDS+=("psql '$COMPAT_POSTGRES_URL' -qc 'DROP DATABASE IF EXISTS $RP_DB WITH (FORCE)'")
RP_PORT1=$(free_port)
RP_PORT2=$(free_port)
RP_URL1="https://127.0.0.1:$RP_PORT1"
RP_URL2="https://127.0.0.1:$RP_PORT2"
# Both replicas open keys the other made: one key-encryption key for both.
RP_KEK=$(openssl rand -base64 32)
# nr N DIR CMD...: a client with trust dir DIR talking to replica N.
nr() {
  local n=$1 dir=$2; shift 2
  local url=$RP_URL1; [ "$n" = 2 ] && url=$RP_URL2
  notary -s "$url" --tlscacert "$TMP/ca.crt" -d "$dir" "$@"
}
nr_fresh() { local n=$1; shift; nr "$n" "$TMP/trust-rp-fresh-$RANDOM$RANDOM" "$@"; }

check "PostgreSQL: a fresh database for the replicas" -- \
  psql "$COMPAT_POSTGRES_URL" -qc "CREATE DATABASE $RP_DB"
rp_start() {
  local n
  for n in 1 2; do
    local port=$RP_PORT1; [ "$n" = 2 ] && port=$RP_PORT2
    NOTARIUM_KEY_ENCRYPTION_KEY="$RP_KEK" "$NOTARIUM_BIN" serve --listen "127.0.0.1:$port" \
      --data-dir "$TMP/replica-$n" --database-url "$RP_DB_URL" --database-max-connections 8 \
      --tls-cert "$TMP/server.crt" --tls-key "$TMP/server.key" >"$TMP/replica-$n.log" 2>&1 </dev/null &
    eval "RP_PID$n=\$!"
    EXTRA_PIDS+=("$!")
  done
  wait_healthy "$RP_URL1" "$RP_PID1" "$TMP/replica-1.log" &&
    wait_healthy "$RP_URL2" "$RP_PID2" "$TMP/replica-2.log"
}
check "two replicas start together on one database (one runs the migrations)" -- rp_start

# --- one repository through both replicas ------------------------------------------------------
RP_G="example.com/compat/replicas-basic-$RANDOM"
RP_T="$TMP/trust-rp-admin"
printf 'replica target\n' >"$TMP/rp.txt"
step "init -p through replica 1" --has "Successfully published changes" -- nr 1 "$RP_T" init -p "$RP_G"
step "the same client adds and publishes through replica 2" --has "Successfully published changes" \
  -- nr 2 "$RP_T" add -p "$RP_G" via-two "$TMP/rp.txt"
step "the same client adds and publishes through replica 1 again" --has "Successfully published changes" \
  -- nr 1 "$RP_T" add -p "$RP_G" via-one "$TMP/rp.txt"
step "a fresh client reads both targets through replica 1" --has via-one --has via-two -- nr_fresh 1 list "$RP_G"
step "a fresh client reads both targets through replica 2" --has via-one --has via-two -- nr_fresh 2 list "$RP_G"
rp_same_key() {
  local a b
  a=$(curl -sf --cacert "$TMP/ca.crt" "$RP_URL1/v2/$RP_G/_trust/tuf/timestamp.key") || return 1
  b=$(curl -sf --cacert "$TMP/ca.crt" "$RP_URL2/v2/$RP_G/_trust/tuf/timestamp.key") || return 1
  echo "$a"; [ -n "$a" ] && [ "$a" = "$b" ]
}
check "both replicas answer the same timestamp key" -- rp_same_key

# --- different GUNs at once, alternating replicas --------------------------------------------
# rp_repo N GUN DIR: init -p and three add -p, through replica N.
rp_repo() {
  local n=$1 gun=$2 dir=$3 i
  nr "$n" "$dir" init -p "$gun" >"$dir.log" 2>&1 || return 1
  for i in 1 2 3; do
    nr "$n" "$dir" add -p "$gun" "t$i" "$TMP/rp.txt" >>"$dir.log" 2>&1 || return 1
  done
}
rp_parallel_repos() {
  local pids=() i failed=0
  for i in 1 2 3 4; do
    rp_repo $((i % 2 + 1)) "example.com/compat/replicas-$RP_DB-$i" "$TMP/trust-rp-par-$i" &
    pids+=("$!")
  done
  for i in 1 2 3 4; do
    if ! wait "${pids[$((i - 1))]}"; then
      echo "client $i failed:"; tail -n 5 "$TMP/trust-rp-par-$i.log"; failed=1
    fi
  done
  [ "$failed" = 0 ] && echo "4 clients, 4 repositories, 16 publishes, all accepted"
}
step "4 clients create and publish 4 repositories at once through both replicas" -- rp_parallel_repos
rp_read_all() {
  local i n out
  for i in 1 2 3 4; do
    for n in 1 2; do
      out=$(nr_fresh "$n" list "example.com/compat/replicas-$RP_DB-$i") || { echo "$out"; return 1; }
      for t in t1 t2 t3; do
        grep -q "^$t " <<<"$out" || { echo "repository $i via replica $n lacks $t:"; echo "$out"; return 1; }
      done
    done
  done
  echo "every repository lists t1 t2 t3 through both replicas"
}
step "fresh clients read every repository whole through both replicas" -- rp_read_all

# --- one GUN, two delegates on different replicas, readers on both ----------------------------
RP_S="example.com/compat/replicas-shared-$RANDOM"
new_cert rpx && new_cert rpy
step "init -p the shared repository" --has "Successfully published changes" -- nr 1 "$RP_T" init -p "$RP_S"
step "hand its snapshot key to the server" --has "Successfully rotated snapshot key" \
  -- nr 2 "$RP_T" key rotate "$RP_S" snapshot -r
step "delegation targets/x" --has "Successfully published changes" \
  -- nr 1 "$RP_T" delegation add -p "$RP_S" targets/x "$TMP/rpx.crt" --all-paths
step "delegation targets/y" --has "Successfully published changes" \
  -- nr 2 "$RP_T" delegation add -p "$RP_S" targets/y "$TMP/rpy.crt" --all-paths
step "delegate X imports its key" -- nr 1 "$TMP/trust-rp-x" key import "$TMP/rpx.key" --role targets/x
step "delegate Y imports its key" -- nr 2 "$TMP/trust-rp-y" key import "$TMP/rpy.key" --role targets/y

# rp_delegate N WHO ROLE: five targets into ROLE through replica N, one publish each. A publish
# that lost a race is refused (400) and stays in the changelist: publish again until it lands.
rp_delegate() {
  local n=$1 who=$2 role=$3 i try
  local dir="$TMP/trust-rp-$who"
  : >"$dir.retries"
  for i in 1 2 3 4 5; do
    nr "$n" "$dir" add "$RP_S" "$who/$i" "$TMP/rp.txt" --roles "$role" >>"$dir.log" 2>&1 || return 1
    for try in $(seq 20); do
      if nr "$n" "$dir" publish "$RP_S" >>"$dir.log" 2>&1; then break; fi
      echo retry >>"$dir.retries"
      [ "$try" -lt 20 ] || return 1
      sleep 0.$((RANDOM % 5))
    done
  done
}
# rp_reader FILE: fresh-client reads through alternating replicas until FILE.stop exists;
# counts reads and failures into FILE.
rp_reader() {
  local file=$1 reads=0 failures=0 n=1 out
  while [ ! -e "$file.stop" ]; do
    if out=$(nr_fresh "$n" list "$RP_S" 2>&1); then reads=$((reads + 1)); else
      failures=$((failures + 1)); printf '%s\n' "$out" >>"$file.errors"
    fi
    n=$((3 - n))
  done
  echo "$reads $failures" >"$file"
}
rp_race() {
  local reader_pid x_pid y_pid status=0
  rp_reader "$TMP/rp-reads" &
  reader_pid=$!
  rp_delegate 1 x targets/x &
  x_pid=$!
  rp_delegate 2 y targets/y &
  y_pid=$!
  wait "$x_pid" || { echo "delegate X failed:"; tail -n 5 "$TMP/trust-rp-x.log"; status=1; }
  wait "$y_pid" || { echo "delegate Y failed:"; tail -n 5 "$TMP/trust-rp-y.log"; status=1; }
  touch "$TMP/rp-reads.stop"
  wait "$reader_pid"
  local reads failures
  read -r reads failures <"$TMP/rp-reads"
  echo "publishes retried after a lost race: X $(wc -l <"$TMP/trust-rp-x.retries"), Y $(wc -l <"$TMP/trust-rp-y.retries")"
  echo "reads during the race: $reads, failed: $failures"
  [ "$failures" = 0 ] || { echo "failed reads:"; head -n 20 "$TMP/rp-reads.errors"; status=1; }
  [ "$reads" -ge 3 ] || { echo "too few reads to mean anything"; status=1; }
  return "$status"
}
step "two delegates publish to one GUN through different replicas at once; every read is whole" \
  --re "reads during the race: [0-9]+, failed: 0" -- rp_race
rp_shared_whole() {
  local n out i
  for n in 1 2; do
    out=$(nr_fresh "$n" list "$RP_S") || { echo "$out"; return 1; }
    for i in 1 2 3 4 5; do
      grep -Eq "^x/$i +[0-9a-f]{64} +[0-9]+ +targets/x" <<<"$out" &&
        grep -Eq "^y/$i +[0-9a-f]{64} +[0-9]+ +targets/y" <<<"$out" ||
        { echo "replica $n lacks x/$i or y/$i:"; echo "$out"; return 1; }
    done
  done
  echo "all 10 delegated targets through both replicas"
}
step "fresh clients on both replicas list all 10 delegated targets with their roles" -- rp_shared_whole
rp_feeds() {
  curl -sf --cacert "$TMP/ca.crt" "$RP_URL1/v2/_trust/changefeed?records=1000" >"$TMP/rp-feed-1" &&
    curl -sf --cacert "$TMP/ca.crt" "$RP_URL2/v2/_trust/changefeed?records=1000" >"$TMP/rp-feed-2" &&
    "$PY" - "$TMP/rp-feed-1" "$TMP/rp-feed-2" <<'PYEOF'
import json, sys
one, two = (json.load(open(p))["records"] for p in sys.argv[1:3])
assert one == two, "the replicas answer different changefeeds"
ids = [int(r["ID"]) for r in one]
assert ids == list(range(1, len(ids) + 1)), f"IDs are not 1..N in order: {ids}"
per_gun = {}
for r in one:
    per_gun.setdefault(r["GUN"], []).append(r["Version"])
for gun, versions in per_gun.items():
    assert versions == sorted(set(versions)), f"{gun}: versions not strictly increasing: {versions}"
print(f"{len(ids)} records, IDs 1..{len(ids)}, {len(per_gun)} GUNs, versions strictly increasing")
PYEOF
}
check "both replicas answer one changefeed: IDs 1..N in order, no duplicate timestamp versions" -- rp_feeds
rp_stop() { stop_process "$RP_PID1" && stop_process "$RP_PID2"; }
check "both replicas stop with exit status 0" -- rp_stop
check "PostgreSQL: the flow's database is dropped" -- \
  psql "$COMPAT_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $RP_DB WITH (FORCE)"
fi
fi
