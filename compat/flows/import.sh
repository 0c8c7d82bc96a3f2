# Moving over from the Go notary-server: notary-server and notary-signer (Debian's `notary`
# package) on MariaDB/MySQL, then on PostgreSQL, in notary's schema, repositories published with the notary CLI
# (history, a rotated timestamp key, a server-held snapshot key, a delegation), then
# `notarium import`, then Notarium started on the same address and the SAME client (same trust
# directory, same command line) lists, adds and publishes.
#
# Needs COMPAT_MYSQL_URL (mysql://USER[:PASS]@HOST:PORT/ANY) and COMPAT_POSTGRES_URL
# (postgres://USER@HOST:PORT/DB); .ci/test sets both. Each backend runs the whole flow.

# import_flow: the whole flow on the backend set up by the caller (IM_* variables, im_schema,
# im_drop).
import_flow() {
IM_PASSPHRASE="compat signer passphrase"
IM_GO_PORT=$(free_port)
IM_SIGNER_PORT=$(free_port)
IM_URL="https://127.0.0.1:$IM_GO_PORT"
IM_TRUST="$TMP/trust-import-$IM_LABEL"
IM_A="example.com/compat/import-a-$RANDOM$RANDOM"
IM_B="example.com/compat/import-b-$RANDOM$RANDOM"
# nim CMD...: the one client of this flow; the same command line before and after the switch.
nim() { notary -s "$IM_URL" --tlscacert "$TMP/ca.crt" -d "$IM_TRUST" "$@"; }
nim_fresh() { notary -s "$IM_URL" --tlscacert "$TMP/ca.crt" -d "$TMP/trust-import-fresh-$RANDOM$RANDOM" "$@"; }
for n in 1 2 3 4; do printf 'import target %s\n' "$n" >"$TMP/import-$n.txt"; done

check "[$IM_LABEL] fresh notary-server and notary-signer databases in notary's schema" -- im_schema

cat >"$TMP/signer.json" <<EOF
{
  "server": {
    "grpc_addr": "127.0.0.1:$IM_SIGNER_PORT",
    "tls_cert_file": "$TMP/server.crt",
    "tls_key_file": "$TMP/server.key"
  },
  "logging": { "level": "info" },
  "storage": {
    "backend": "$IM_GO_BACKEND",
    "db_url": "$IM_GO_SIGNER_DB_URL",
    "default_alias": "importalias"
  }
}
EOF
cat >"$TMP/go-server.json" <<EOF
{
  "server": {
    "http_addr": "127.0.0.1:$IM_GO_PORT",
    "tls_cert_file": "$TMP/server.crt",
    "tls_key_file": "$TMP/server.key"
  },
  "trust_service": {
    "type": "remote",
    "hostname": "localhost",
    "port": "$IM_SIGNER_PORT",
    "tls_ca_file": "$TMP/ca.crt",
    "key_algorithm": "ecdsa"
  },
  "logging": { "level": "info" },
  "storage": {
    "backend": "$IM_GO_BACKEND",
    "db_url": "$IM_GO_SERVER_DB_URL"
  }
}
EOF
im_start_go() {
  NOTARY_SIGNER_IMPORTALIAS="$IM_PASSPHRASE" notary-signer -config "$TMP/signer.json" \
    >"$TMP/signer.log" 2>&1 </dev/null &
  IM_SIGNER_PID=$!
  EXTRA_PIDS+=("$IM_SIGNER_PID")
  local up=""
  for _ in $(seq 100); do
    if "$PY" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' \
      "$IM_SIGNER_PORT" 2>/dev/null; then up=1; break; fi
    kill -0 "$IM_SIGNER_PID" 2>/dev/null || break
    sleep 0.2
  done
  [ -n "$up" ] || { echo "notary-signer did not listen:"; tail -n 30 "$TMP/signer.log"; return 1; }
  notary-server -config "$TMP/go-server.json" >"$TMP/go-server.log" 2>&1 </dev/null &
  IM_GO_PID=$!
  EXTRA_PIDS+=("$IM_GO_PID")
  wait_healthy "$IM_URL" "$IM_GO_PID" "$TMP/go-server.log"
}
check "[$IM_LABEL] notary-server (remote signer) and notary-signer start" -- im_start_go

# --- life on the Go notary-server ------------------------------------------------------------
step "[$IM_LABEL go] init -p repository A" --has "Successfully published changes" -- nim init -p "$IM_A"
step "[$IM_LABEL go] add -p a target to A" --has "Successfully published changes" -- nim add -p "$IM_A" one "$TMP/import-1.txt"
step "[$IM_LABEL go] add -p another target to A" --has "Successfully published changes" -- nim add -p "$IM_A" two "$TMP/import-2.txt"
step "[$IM_LABEL go] rotate A's timestamp key on the server" --has "Successfully rotated timestamp key" \
  -- nim key rotate "$IM_A" timestamp -r
step "[$IM_LABEL go] add -p a third target to A (signed by the new timestamp key)" \
  --has "Successfully published changes" -- nim add -p "$IM_A" three "$TMP/import-3.txt"
step "[$IM_LABEL go] init -p repository B" --has "Successfully published changes" -- nim init -p "$IM_B"
step "[$IM_LABEL go] hand B's snapshot key to the server" --has "Successfully rotated snapshot key" \
  -- nim key rotate "$IM_B" snapshot -r
step "[$IM_LABEL go] delegation add targets/releases to B" --has "Successfully published changes" \
  -- nim delegation add -p "$IM_B" targets/releases "$TMP/releases.crt" --all-paths
step "[$IM_LABEL go] the client imports the releases key" -- nim key import "$TMP/releases.key" --role targets/releases
step "[$IM_LABEL go] publish into targets/releases of B" --has "Successfully published changes" \
  -- nim add -p "$IM_B" rel/one "$TMP/import-1.txt" --roles targets/releases
step "[$IM_LABEL go] a fresh client lists A" --has "one" --has "two" --has "three" -- nim_fresh list "$IM_A"
step "[$IM_LABEL go] a fresh client lists B" --re "^rel/one +[0-9a-f]{64} +[0-9]+ +targets/releases" -- nim_fresh list "$IM_B"
# What the Go server serves, to compare with Notarium after the switch.
im_record() {
  local gun
  for gun in "$IM_A" "$IM_B"; do
    curl -sf --cacert "$TMP/ca.crt" "$IM_URL/v2/$gun/_trust/changefeed?records=100" \
      >"$TMP/go-feed-$(basename "$gun")"
    curl -sf --cacert "$TMP/ca.crt" "$IM_URL/v2/$gun/_trust/tuf/timestamp.key" \
      >"$TMP/go-tskey-$(basename "$gun")"
  done
  # Only B's snapshot key is the server's: for A, notary-server would make a new one per GET.
  curl -sf --cacert "$TMP/ca.crt" "$IM_URL/v2/$IM_B/_trust/tuf/snapshot.key" \
    >"$TMP/go-snkey-$(basename "$IM_B")"
  "$PY" -c 'import json, sys; [print(f, json.load(open(f))["count"]) for f in sys.argv[1:]]' \
    "$TMP/go-feed-$(basename "$IM_A")" "$TMP/go-feed-$(basename "$IM_B")"
}
check "[$IM_LABEL go] record the changefeeds and server keys" -- im_record
im_stop_go() { stop_process "$IM_GO_PID"; stop_process "$IM_SIGNER_PID" || true; }
check "[$IM_LABEL go] notary-server stops (the switch)" -- im_stop_go

# --- the import ------------------------------------------------------------------------------
step "[$IM_LABEL] notarium import carries both repositories with their keys, without warnings" \
  --has "imported $IM_A: " --has "imported $IM_B: " --re "imported $IM_A: [0-9]+ files, [0-9]+ changes, 2 server keys" \
  --re "imported $IM_B: [0-9]+ files, [0-9]+ changes, 2 server keys" --lacks "warning" -- \
  env NOTARY_SIGNER_IMPORTALIAS="$IM_PASSPHRASE" "$NOTARIUM_BIN" import \
  --from "$IM_FROM" \
  --signer-from "$IM_SIGNER_FROM" --data-dir "$TMP/import-data-$IM_LABEL"
step "[$IM_LABEL] a second import into the same database is refused" --fail --has "already holds" -- \
  env NOTARY_SIGNER_IMPORTALIAS="$IM_PASSPHRASE" "$NOTARIUM_BIN" import \
  --from "$IM_FROM" --data-dir "$TMP/import-data-$IM_LABEL"
step "[$IM_LABEL] a wrong signer passphrase is reported per key, never printed" --has "did not decrypt" \
  --lacks "wrong pass phrase" -- \
  env NOTARY_SIGNER_IMPORTALIAS="wrong pass phrase" "$NOTARIUM_BIN" import \
  --from "$IM_FROM" \
  --signer-from "$IM_SIGNER_FROM" --data-dir "$TMP/import-scratch-$IM_LABEL"

im_start_notarium() {
  "$NOTARIUM_BIN" serve --listen "127.0.0.1:$IM_GO_PORT" --data-dir "$TMP/import-data-$IM_LABEL" \
    --tls-cert "$TMP/server.crt" --tls-key "$TMP/server.key" >"$TMP/import-notarium-$IM_LABEL.log" 2>&1 </dev/null &
  IM_NOTARIUM_PID=$!
  EXTRA_PIDS+=("$IM_NOTARIUM_PID")
  wait_healthy "$IM_URL" "$IM_NOTARIUM_PID" "$TMP/import-notarium-$IM_LABEL.log"
}
check "[$IM_LABEL] notarium serves the imported database on the old server's address" -- im_start_notarium

# --- the same client, unchanged ---------------------------------------------------------------
step "[$IM_LABEL] the same client lists A" --has "one" --has "two" --has "three" -- nim list "$IM_A"
step "[$IM_LABEL] the same client lists B with its delegated target" \
  --re "^rel/one +[0-9a-f]{64} +[0-9]+ +targets/releases" -- nim list "$IM_B"
step "[$IM_LABEL] the same client adds and publishes to A (timestamp signed by the carried key)" \
  --has "Successfully published changes" -- nim add -p "$IM_A" four "$TMP/import-4.txt"
step "[$IM_LABEL] the same client publishes into B's delegation (snapshot signed by the carried key)" \
  --has "Successfully published changes" -- nim add -p "$IM_B" rel/two "$TMP/import-2.txt" --roles targets/releases
step "[$IM_LABEL] a fresh client lists A, old and new" --has "one" --has "three" --has "four" -- nim_fresh list "$IM_A"
step "[$IM_LABEL] a fresh client lists B, old and new" --re "^rel/one " --re "^rel/two " -- nim_fresh list "$IM_B"
im_compare() {
  local gun base
  for gun in "$IM_A" "$IM_B"; do
    base=$(basename "$gun")
    curl -sf --cacert "$TMP/ca.crt" "$IM_URL/v2/$gun/_trust/changefeed?records=100" >"$TMP/nm-feed-$base" || return 1
    curl -sf --cacert "$TMP/ca.crt" "$IM_URL/v2/$gun/_trust/tuf/timestamp.key" >"$TMP/nm-tskey-$base" || return 1
    if [ "$gun" = "$IM_B" ]; then
      curl -sf --cacert "$TMP/ca.crt" "$IM_URL/v2/$gun/_trust/tuf/snapshot.key" >"$TMP/nm-snkey-$base" || return 1
    else
      cp "$TMP/go-tskey-$base" "$TMP/go-snkey-$base"; cp "$TMP/nm-tskey-$base" "$TMP/nm-snkey-$base"
    fi
    "$PY" - "$TMP/go-feed-$base" "$TMP/nm-feed-$base" "$TMP/go-tskey-$base" "$TMP/nm-tskey-$base" \
      "$TMP/go-snkey-$base" "$TMP/nm-snkey-$base" <<'PYEOF' || return 1
import json, sys
go, nm = (json.load(open(p)) for p in sys.argv[1:3])
old = [(r["ID"], r["Version"], r["SHA256"]) for r in go["records"]]
new = [(r["ID"], r["Version"], r["SHA256"]) for r in nm["records"]]
assert new[: len(old)] == old, f"the imported history differs: {old} vs {new[:len(old)]}"
assert len(new) == len(old) + 1, f"expected one new record after the publish, got {len(new) - len(old)}"
assert int(new[-1][0]) > int(old[-1][0]) and new[-1][1] == old[-1][1] + 1, (old[-1], new[-1])
for a, b in ((3, 4), (5, 6)):
    ka, kb = (json.load(open(sys.argv[i])) for i in (a, b))
    assert ka == kb, f"server key differs after the switch: {ka} vs {kb}"
print(f"{len(old)} records carried, IDs kept, one new; same server keys")
PYEOF
  done
}
check "[$IM_LABEL] changefeed history (IDs, versions, hashes) and server keys are the Go server's" -- im_compare
im_stop_notarium() { stop_process "$IM_NOTARIUM_PID"; }
check "[$IM_LABEL] the imported notarium stops with exit status 0" -- im_stop_notarium
check "[$IM_LABEL] the flow's databases are dropped" -- im_drop
}

# The backends: MariaDB/MySQL and PostgreSQL, each when configured.
import_on_mysql() {
  local parts
  parts=$("$PY" -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(p.hostname or "127.0.0.1", p.port or 3306, u.unquote(p.username or "root"), u.unquote(p.password or ""))' "$COMPAT_MYSQL_URL")
  read -r IM_HOST IM_PORT IM_USER IM_PASS <<<"$parts"
  im_mysql() { MYSQL_PWD="$IM_PASS" mysql -h "$IM_HOST" -P "$IM_PORT" -u "$IM_USER" "$@"; }
  IM_LABEL=mysql
  IM_SERVER_DB="notarium_import_server_$$"
  IM_SIGNER_DB="notarium_import_signer_$$"
  local auth="$IM_USER"; [ -z "$IM_PASS" ] || auth="$IM_USER:$IM_PASS"
  IM_GO_BACKEND=mysql
  IM_GO_SERVER_DB_URL="$auth@tcp($IM_HOST:$IM_PORT)/$IM_SERVER_DB?parseTime=True"
  IM_GO_SIGNER_DB_URL="$auth@tcp($IM_HOST:$IM_PORT)/$IM_SIGNER_DB?parseTime=True"
  IM_FROM="mysql://$auth@$IM_HOST:$IM_PORT/$IM_SERVER_DB"
  IM_SIGNER_FROM="mysql://$auth@$IM_HOST:$IM_PORT/$IM_SIGNER_DB"
  im_drop() { im_mysql -e "DROP DATABASE IF EXISTS $IM_SERVER_DB; DROP DATABASE IF EXISTS $IM_SIGNER_DB"; }
  CLEANUP_CMDS+=("im_mysql -e 'DROP DATABASE IF EXISTS $IM_SERVER_DB; DROP DATABASE IF EXISTS $IM_SIGNER_DB'")
  im_schema() {
    im_drop &&
      im_mysql -e "CREATE DATABASE $IM_SERVER_DB; CREATE DATABASE $IM_SIGNER_DB" &&
      im_mysql "$IM_SERVER_DB" <"$COMPAT_DIR/import/notary-server-mysql.sql" &&
      im_mysql "$IM_SIGNER_DB" <"$COMPAT_DIR/import/notary-signer-mysql.sql"
  }
  import_flow
}
import_on_postgres() {
  IM_LABEL=postgres
  IM_SERVER_DB="notarium_import_server_$$"
  IM_SIGNER_DB="notarium_import_signer_$$"
  IM_FROM=$(url_with_database "$COMPAT_POSTGRES_URL" "$IM_SERVER_DB")
  IM_SIGNER_FROM=$(url_with_database "$COMPAT_POSTGRES_URL" "$IM_SIGNER_DB")
  IM_GO_BACKEND=postgres
  # notary's Go driver asks for TLS unless told otherwise; the local server has none.
  IM_GO_SERVER_DB_URL="$IM_FROM?sslmode=disable"
  IM_GO_SIGNER_DB_URL="$IM_SIGNER_FROM?sslmode=disable"
  im_psql() { psql "$COMPAT_POSTGRES_URL" -v ON_ERROR_STOP=1 -q "$@"; }
  im_drop() {
    im_psql -c "DROP DATABASE IF EXISTS $IM_SERVER_DB WITH (FORCE)" \
      -c "DROP DATABASE IF EXISTS $IM_SIGNER_DB WITH (FORCE)"
  }
  CLEANUP_CMDS+=("psql '$COMPAT_POSTGRES_URL' -qc 'DROP DATABASE IF EXISTS $IM_SERVER_DB WITH (FORCE)' -c 'DROP DATABASE IF EXISTS $IM_SIGNER_DB WITH (FORCE)'")
  im_schema() {
    im_drop &&
      im_psql -c "CREATE DATABASE $IM_SERVER_DB" -c "CREATE DATABASE $IM_SIGNER_DB" &&
      psql "$IM_FROM" -v ON_ERROR_STOP=1 -q -f "$COMPAT_DIR/import/notary-server-postgres.sql" &&
      psql "$IM_SIGNER_FROM" -v ON_ERROR_STOP=1 -q -f "$COMPAT_DIR/import/notary-signer-postgres.sql"
  }
  import_flow
}

if [ "$TARGET" = notarium ]; then
  for backend in mysql postgres; do
    var=COMPAT_MYSQL_URL; [ "$backend" = postgres ] && var=COMPAT_POSTGRES_URL
    if [ -n "${!var:-}" ]; then
      "import_on_$backend"
    else
      echo "# import flow: $var is not set; the import from notary-server on $backend did not run"
      if [ "${CI:-}" = true ]; then
        check "the import flow has a $backend server ($var)" -- false
      fi
    fi
  done
fi
