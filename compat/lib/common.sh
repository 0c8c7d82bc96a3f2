# Shared by every flow: prerequisites, TLS material, the server under test, the step helpers.
# Sourced by run.sh; expects COMPAT_DIR, REPO_ROOT, TARGET and STEP_TIMEOUT to be set.

# ---------------------------------------------------------------------------------------------
# Prerequisites
# ---------------------------------------------------------------------------------------------
need_apt=()
{ command -v notary >/dev/null 2>&1 && command -v notary-server >/dev/null 2>&1; } || need_apt+=(notary)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v curl >/dev/null 2>&1 || need_apt+=(curl ca-certificates)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
command -v timeout >/dev/null 2>&1 || need_apt+=(coreutils)
command -v pkill >/dev/null 2>&1 || need_apt+=(procps)
if [ -n "${COMPAT_POSTGRES_URL:-}${COMPAT_DATABASE_URL:-}" ]; then
  command -v psql >/dev/null 2>&1 || need_apt+=(postgresql-client)
fi
if [ -n "${COMPAT_MYSQL_URL:-}" ]; then
  command -v mysql >/dev/null 2>&1 || need_apt+=(mariadb-client)
  command -v notary-signer >/dev/null 2>&1 || need_apt+=(notary)
fi
# kubectl builds the admission flow's objects (client side only: no cluster is needed).
case " $FLOWS " in
  *" admission "*)
    [ "$TARGET" != notarium ] || command -v kubectl >/dev/null 2>&1 || need_apt+=(kubectl) ;;
esac
# The daemon flow runs Debian's dockerd and docker-registry, reads the registry with skopeo and
# builds its image from a static busybox (lib/dockerd.sh).
# busybox_static: /bin/busybox runs in an empty root file system (no dynamic loader needed).
# (ldd fails on a static binary, so its words are read, not its status: under pipefail a pipe
# from it would fail either way.)
busybox_static() {
  [ -x /bin/busybox ] || return 1
  case "$(LC_ALL=C ldd /bin/busybox 2>&1)" in
    *"not a dynamic executable"* | *"statically linked"*) return 0 ;;
    *) return 1 ;;
  esac
}
case " $FLOWS " in
  *" daemon "*)
    [ -x /usr/sbin/dockerd ] || need_apt+=(docker.io)
    command -v docker-registry >/dev/null 2>&1 || need_apt+=(docker-registry)
    command -v skopeo >/dev/null 2>&1 || need_apt+=(skopeo)
    busybox_static || need_apt+=(busybox-static) ;;
esac
# The sign flow pushes images into Debian's docker-registry with skopeo (no daemon).
case " $FLOWS " in
  *" sign "*)
    command -v docker-registry >/dev/null 2>&1 || need_apt+=(docker-registry)
    command -v skopeo >/dev/null 2>&1 || need_apt+=(skopeo) ;;
esac
# The image flow (Notarium only) builds the Dockerfile on a daemon of its own, from base images
# it makes with debootstrap (lib/images.sh).
case " $FLOWS " in
  *" image "*)
    if [ "$TARGET" = notarium ]; then
      [ -x /usr/sbin/dockerd ] || need_apt+=(docker.io)
      command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
    fi ;;
esac
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  echo "# installing ${need_apt[*]}"
  ${sudo_cmd[@]+"${sudo_cmd[@]}"} apt-get update
  DEBIAN_FRONTEND=noninteractive ${sudo_cmd[@]+"${sudo_cmd[@]}"} apt-get install -y "${need_apt[@]}"
fi

# The Docker CLI 28 is part of the machine (Debian's docker.io is older); without it the docker,
# daemon, verify, admission and image flows cannot run, and that is a failure, not a skip.
docker_flows=" $FLOWS "
[ "$TARGET" = notarium ] || { docker_flows=${docker_flows/ admission / }; docker_flows=${docker_flows/ image / }; }
case "$docker_flows" in
  *" docker "* | *" daemon "* | *" verify "* | *" admission "* | *" image "*)
    command -v docker >/dev/null 2>&1 || {
      echo "the docker flow needs the Docker CLI (28.x) on PATH; none was found" >&2
      exit 2
    } ;;
esac

# The interpreter itself, not a version-manager shim (those cost a second per call).
PY=$(python3 -c 'import sys; print(sys.executable)')

if [ "$TARGET" = notarium ]; then
  NOTARIUM_BIN=${NOTARIUM_BIN:-$REPO_ROOT/target/debug/notarium}
  if [ ! -x "$NOTARIUM_BIN" ]; then
    echo "notarium binary not found at $NOTARIUM_BIN (build it with 'cargo build', or set NOTARIUM_BIN)" >&2
    exit 2
  fi
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/notarium-compat.XXXXXXXX")
SERVER_PID=""
PASSED=0
FAILED=0
STEP=0
TIMEOUTS=0

# Flows that start their own processes or make databases register them here.
EXTRA_PIDS=()
CLEANUP_CMDS=()
cleanup() {
  local status=$?
  if [ -n "${GEN_PID:-}" ]; then kill -KILL "$GEN_PID" 2>/dev/null || true; fi
  local pid cmd
  for pid in ${EXTRA_PIDS[@]+"${EXTRA_PIDS[@]}"}; do kill -KILL "$pid" 2>/dev/null || true; done
  for cmd in ${CLEANUP_CMDS[@]+"${CLEANUP_CMDS[@]}"}; do eval "$cmd" >/dev/null 2>&1 || true; done
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] || [ "$FAILED" -ne 0 ]; then
    if [ -s "$TMP/server.log" ]; then
      echo "# ---- server log (last 60 lines) ----"
      tail -n 60 "$TMP/server.log" | sed 's/^/# /'
    fi
  fi
  if [ "${COMPAT_KEEP:-}" = 1 ]; then
    echo "# kept $TMP"
  else
    rm -rf "$TMP"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The client must not read the invoking user's ~/.notary, and no inherited setting may point
# either program somewhere else.
export HOME="$TMP/home"
mkdir -p "$HOME"
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep -E '^NOTARY_' || true)
while IFS= read -r var; do
  [ "$var" = NOTARIUM_BIN ] || unset "$var"
done < <(compgen -e | grep -E '^NOTARIUM_' || true)
# Nor may an inherited DOCKER_* setting (a host, a context, content trust): the Docker CLI talks
# to a daemon only in the daemon and image flows, to the one each starts (lib/dockerd.sh). Everywhere
# else DOCKER_HOST names a socket that does not exist, so no daemon on the machine is reached.
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep -E '^DOCKER_' || true)
NO_DAEMON_HOST="unix://$TMP/no-daemon.sock"
export DOCKER_HOST=$NO_DAEMON_HOST

# ---------------------------------------------------------------------------------------------
# TLS material: our own CA and a server certificate for 127.0.0.1 / localhost
# ---------------------------------------------------------------------------------------------
make_tls() {
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 \
    -keyout "$TMP/ca.key" -out "$TMP/ca.crt" -subj "/CN=Notarium compat test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    >"$TMP/openssl.log" 2>&1 || return 1
  openssl req -new -newkey rsa:2048 -nodes -sha256 -keyout "$TMP/server.key" \
    -out "$TMP/server.csr" -subj "/CN=localhost" >>"$TMP/openssl.log" 2>&1 || return 1
  printf '%s\n' "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" \
    "subjectAltName=IP:127.0.0.1,DNS:localhost" >"$TMP/server.ext"
  openssl x509 -req -sha256 -days 30 -in "$TMP/server.csr" -CA "$TMP/ca.crt" \
    -CAkey "$TMP/ca.key" -CAcreateserial -extfile "$TMP/server.ext" -out "$TMP/server.crt" \
    >>"$TMP/openssl.log" 2>&1 || return 1
  # the delegation key and certificate used later (ECDSA P-256, as notary makes them)
  openssl ecparam -name prime256v1 -genkey -noout -out "$TMP/releases.key" \
    >>"$TMP/openssl.log" 2>&1 || return 1
  openssl req -new -x509 -sha256 -days 3650 -key "$TMP/releases.key" -out "$TMP/releases.crt" \
    -subj "/CN=releases" >>"$TMP/openssl.log" 2>&1 || return 1
}
if ! make_tls; then
  echo "could not make the test CA and server certificate:" >&2
  cat "$TMP/openssl.log" >&2
  exit 1
fi

# ---------------------------------------------------------------------------------------------
# Start the server under test
# ---------------------------------------------------------------------------------------------
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
URL="https://127.0.0.1:$PORT"
if [ -n "${COMPAT_REPORT:-}" ]; then printf '#\t%s\t%s\t%s\n' "$TARGET" "$TMP" "$URL" >>"$COMPAT_REPORT"; fi

if [ "$TARGET" = notary-server ]; then
  cat >"$TMP/server.json" <<EOF
{
  "server": {
    "http_addr": "127.0.0.1:$PORT",
    "tls_cert_file": "$TMP/server.crt",
    "tls_key_file": "$TMP/server.key"
  },
  "trust_service": { "type": "local", "key_algorithm": "ecdsa" },
  "storage": { "backend": "memory" },
  "logging": { "level": "info" }
}
EOF
  notary-server -config "$TMP/server.json" >"$TMP/server.log" 2>&1 </dev/null &
  SERVER_PID=$!
else
  db_args=()
  [ -z "${COMPAT_DATABASE_URL:-}" ] || db_args=(--database-url "$COMPAT_DATABASE_URL")
  "$NOTARIUM_BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$TMP/data" ${db_args[@]+"${db_args[@]}"} \
    --tls-cert "$TMP/server.crt" --tls-key "$TMP/server.key" >"$TMP/server.log" 2>&1 </dev/null &
  SERVER_PID=$!
fi

healthy="" why="did not answer 200 on $URL/_notary_server/health within 20 s"
deadline=$((SECONDS + 20))
while [ "$SECONDS" -lt "$deadline" ]; do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    server_status=0
    wait "$SERVER_PID" || server_status=$?
    why="exited with status $server_status before answering on $URL/_notary_server/health"
    SERVER_PID=""
    break
  fi
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$TMP/ca.crt" \
    "$URL/_notary_server/health" 2>/dev/null || true)
  if [ "$code" = 200 ]; then healthy=1; break; fi
  sleep 0.2
done
if [ -z "$healthy" ]; then
  echo "not ok 1 - $TARGET starts and answers its health check"
  echo "#   $TARGET $why"
  echo "#   server log:"
  sed 's/^/#     /' "$TMP/server.log" || true
  : >"$TMP/server.log" # already printed
  echo "0 passed, 1 failed"
  exit 1
fi
echo "# target: $TARGET on $URL (pid $SERVER_PID)"

# ---------------------------------------------------------------------------------------------
# Step helpers
# ---------------------------------------------------------------------------------------------
# step DESC [options] -- CMD...
#   --fail        the command must exit non-zero (default: must exit 0)
#   --in FILE     stdin (default /dev/null)
#   --save FILE   keep a copy of the command's stdout in FILE
#   --has TEXT    combined output must contain TEXT (fixed string; repeatable)
#   --lacks TEXT  combined output must not contain TEXT (repeatable)
#   --re REGEX    combined output must match the extended REGEX (repeatable)
#   --no-re REGEX combined output must not match the extended REGEX (repeatable)
# The command's stdout is kept in $TMP/last.stdout and stdout+stderr in $TMP/last.out.
LAST_OUT="$TMP/last.out"
LAST_STDOUT="$TMP/last.stdout"
step() {
  local desc=$1; shift
  local want=ok input=/dev/null save=""
  local -a has=() lacks=() res=() nres=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --fail) want=fail; shift ;;
      --in) input=$2; shift 2 ;;
      --save) save=$2; shift 2 ;;
      --has) has+=("$2"); shift 2 ;;
      --lacks) lacks+=("$2"); shift 2 ;;
      --re) res+=("$2"); shift 2 ;;
      --no-re) nres+=("$2"); shift 2 ;;
      --) shift; break ;;
      *) echo "step: unknown option $1" >&2; exit 2 ;;
    esac
  done
  STEP=$((STEP + 1))
  if [ "$TIMEOUTS" -ge 3 ]; then
    FAILED=$((FAILED + 1))
    echo "not ok $STEP - $desc"
    echo "#   not run: three earlier steps timed out (the server looks wedged)"
    return 0
  fi
  local shown="$*"
  # Client shorthands become plain commands so that they run under `timeout`.
  case "$1" in
    na) set -- "${NOTARY_CMD[@]}" -d "$TRUST_A" "${@:2}" ;;
    nb) set -- "${NOTARY_CMD[@]}" -d "$TRUST_B" "${@:2}" ;;
    nc_) set -- "${NOTARY_CMD[@]}" -d "$2" "${@:3}" ;;
    nfresh) FRESH_N=$((FRESH_N + 1)); set -- "${NOTARY_CMD[@]}" -d "$TMP/trust-fresh-$FRESH_N" "${@:2}" ;;
  esac
  local rc=0
  if declare -F "$1" >/dev/null && [ "${STEP_KIND:-step}" = check ]; then
    # a local assertion: runs in this shell (it may wait for a process this shell started)
    "$@" <"$input" >"$LAST_STDOUT" 2>"$TMP/last.stderr" || rc=$?
  elif declare -F "$1" >/dev/null; then
    # a client wrapper: a subshell under the same time limit as a plain command
    ("$@") <"$input" >"$LAST_STDOUT" 2>"$TMP/last.stderr" &
    local pid=$!
    if ! timeout "$STEP_TIMEOUT" tail --pid="$pid" -s 0.05 -f /dev/null; then
      pkill -KILL -P "$pid" 2>/dev/null || true
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" || rc=$?
  else
    timeout -k 5 "$STEP_TIMEOUT" "$@" <"$input" >"$LAST_STDOUT" 2>"$TMP/last.stderr" || rc=$?
  fi
  cat "$LAST_STDOUT" "$TMP/last.stderr" >"$LAST_OUT"
  [ -z "$save" ] || cp "$LAST_STDOUT" "$save"
  local -a why=()
  if [ "$want" = ok ] && [ "$rc" -ne 0 ]; then why+=("exit status $rc, expected 0"); fi
  if [ "$want" = fail ] && [ "$rc" -eq 0 ]; then why+=("exit status 0, expected a failure"); fi
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    why+=("timed out after ${STEP_TIMEOUT}s")
    TIMEOUTS=$((TIMEOUTS + 1))
  fi
  local t
  for t in ${has[@]+"${has[@]}"}; do
    grep -qF -- "$t" "$LAST_OUT" || why+=("output lacks: $t")
  done
  for t in ${lacks[@]+"${lacks[@]}"}; do
    if grep -qF -- "$t" "$LAST_OUT"; then why+=("output unexpectedly contains: $t"); fi
  done
  for t in ${res[@]+"${res[@]}"}; do
    grep -qE -- "$t" "$LAST_OUT" || why+=("output does not match: $t")
  done
  for t in ${nres[@]+"${nres[@]}"}; do
    if grep -qE -- "$t" "$LAST_OUT"; then why+=("output unexpectedly matches: $t"); fi
  done
  if [ ${#why[@]} -eq 0 ]; then
    PASSED=$((PASSED + 1))
    echo "ok $STEP - $desc"
    report ok "$desc" "$want" "$shown"
    return 0
  fi
  FAILED=$((FAILED + 1))
  echo "not ok $STEP - $desc"
  report "not ok" "$desc" "$want" "$shown"
  local w
  for w in "${why[@]}"; do echo "#   $w"; done
  printf '#   command:'; printf ' %q' "$@"; echo
  echo "#   output:"
  sed 's/^/#     /' "$LAST_OUT"
  return 0
}

# check DESC -- CMD...: a local assertion (file comparison, JSON check); passes on exit 0.
check() { STEP_KIND=check step "$@"; }

# report RESULT DESC WANT COMMAND: with COMPAT_REPORT=FILE, one tab-separated line per step
# (flow, kind, result, expected exit, description, command) for compat/report.py.
report() {
  [ -n "${COMPAT_REPORT:-}" ] || return 0
  local cmd=${4//$'\n'/ }
  cmd=${cmd//$'\t'/ }
  [ ${#cmd} -le 2000 ] || cmd="${cmd:0:2000}…"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "${CURRENT_FLOW:-}" "${STEP_KIND:-step}" "$1" "$3" "$2" "$cmd" >>"$COMPAT_REPORT"
}

# report_url NAME URL: a flow's other server, shown as NAME in the report's commands (its port
# changes from run to run, and several servers would otherwise all read as $URL).
report_url() {
  [ -n "${COMPAT_REPORT:-}" ] || return 0
  printf '#url\t%s\t%s\n' "$1" "$2" >>"$COMPAT_REPORT"
}

# The real client, pointed at the server under test, with a given trust directory.
TRUST_A="$TMP/trust-a"        # the publisher: holds every key
TRUST_B="$TMP/trust-b"        # a reader with no keys, kept across the whole run
TRUST_EARLY="$TMP/trust-early" # a reader that reads at root v1, then only after the root rotation
nc_() { local dir=$1; shift; notary -s "$URL" --tlscacert "$TMP/ca.crt" -d "$dir" "$@"; }
na() { nc_ "$TRUST_A" "$@"; }
nb() { nc_ "$TRUST_B" "$@"; }
FRESH_N=0
# nfresh CMD...: a brand-new client (fresh trust dir, no keys) for one command.
nfresh() { FRESH_N=$((FRESH_N + 1)); nc_ "$TMP/trust-fresh-$FRESH_N" "$@"; }

export NOTARY_ROOT_PASSPHRASE="compat root pass"
export NOTARY_TARGETS_PASSPHRASE="compat targets pass"
export NOTARY_SNAPSHOT_PASSPHRASE="compat snapshot pass"
export NOTARY_DELEGATION_PASSPHRASE="compat delegation pass"

# meta TRUSTDIR GUN ROLE PYEXPR: evaluate PYEXPR with d = the cached role file (as the client
# downloaded it), and print the result.
meta() {
  "$PY" - "$1/tuf/$2/metadata/$3.json" "$4" <<'EOF'
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    d = json.load(f)
print(eval(sys.argv[2], {"d": d}))
EOF
}
# is_true TRUSTDIR GUN ROLE PYEXPR: succeed when the expression is true.
is_true() {
  "$PY" - "$1/tuf/$2/metadata/$3.json" "$4" <<'EOF'
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    d = json.load(f)
ok = eval(sys.argv[2], {"d": d})
print("expression:", sys.argv[2], "->", ok)
if not ok:
    print(json.dumps(d, indent=1, ensure_ascii=False)[:4000])
sys.exit(0 if ok else 1)
EOF
}
# server_key_id GUN ROLE: key ID of the public key GET …/ROLE.key answers.
server_key_id() {
  curl -sS --fail --max-time 10 --cacert "$TMP/ca.crt" "$URL/v2/$1/_trust/tuf/$2.key" |
    "$PY" -c '
import hashlib, json, sys
k = json.load(sys.stdin)
canon = {"keytype": k["keytype"], "keyval": {"private": None, "public": k["keyval"]["public"]}}
print(hashlib.sha256(json.dumps(canon, sort_keys=True, separators=(",", ":")).encode()).hexdigest())'
}
# key_in_root TRUSTDIR GUN ROLE KEYID: the cached root lists KEYID for ROLE.
key_in_root() {
  is_true "$1" "$2" root "'$4' in d['signed']['roles']['$3']['keyids'] and '$4' in d['signed']['keys']"
}
# local_key_id ROLE [TRUSTDIR GUN]: the ID `notary key list` shows for ROLE of GUN (default:
# the notary flow's publisher and GUN). `key list` shortens long GUNs to "...<suffix>".
local_key_id() {
  local dir=${2:-$TRUST_A} gun=${3:-$GUN}
  nc_ "$dir" key list 2>/dev/null | awk -v r="$1" -v g="$gun" '
    $1 == r && ($2 == g || (substr($2, 1, 3) == "..." &&
      substr(g, length(g) - length($2) + 4) == substr($2, 4))) { print $3 }'
}
# cert_key_id CERT / pub_key_id PUBKEY_PEM: the ID notary shows for a certificate given to
# `delegation add`, or a public key given to `docker trust signer add` (notary's canonical key
# ID: that of the bare ECDSA public key, not of the certificate).
canonical_key_id() {
  openssl pkey -pubin -outform DER | "$PY" -c '
import base64, hashlib, json, sys
der = sys.stdin.buffer.read()
canon = {"keytype": "ecdsa", "keyval": {"private": None, "public": base64.b64encode(der).decode()}}
print(hashlib.sha256(json.dumps(canon, sort_keys=True, separators=(",", ":")).encode()).hexdigest())'
}
cert_key_id() { openssl x509 -in "$1" -pubkey -noout | canonical_key_id; }
pub_key_id() { grep -v '^[a-z]*: ' "$1" | canonical_key_id; } # docker writes a `role:` header
# new_cert NAME: an ECDSA P-256 key TMP/NAME.key and a self-signed certificate TMP/NAME.crt,
# as a delegate would make them for `notary delegation add`.
new_cert() {
  openssl ecparam -name prime256v1 -genkey -noout -out "$TMP/$1.key" >>"$TMP/openssl.log" 2>&1 &&
    openssl req -new -x509 -sha256 -days 3650 -key "$TMP/$1.key" -out "$TMP/$1.crt" \
      -subj "/CN=$1" >>"$TMP/openssl.log" 2>&1
}
# http_status PATH: the status code of GET URL/PATH.
http_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$TMP/ca.crt" "$URL$1"
}
expect_status() { local got; got=$(http_status "$1"); echo "GET $1 -> $got"; [ "$got" = "$2" ]; }


NOTARY_CMD=(notary -s "$URL" --tlscacert "$TMP/ca.crt")
HOST="127.0.0.1:$PORT"
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
size_of() { wc -c <"$1" | tr -d ' '; }

# ---------------------------------------------------------------------------------------------
# Helpers for flows that run servers of their own (replicas, import)
# ---------------------------------------------------------------------------------------------
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_healthy URL PID LOG: until URL/_notary_server/health answers 200 (20 s), or PID exits.
wait_healthy() {
  local url=$1 pid=$2 log=$3
  for _ in $(seq 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "process $pid exited; its log:"; tail -n 40 "$log"; return 1
    fi
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$TMP/ca.crt" "$url/_notary_server/health")" = 200 ] && return 0
    sleep 0.2
  done
  echo "no healthy answer from $url in 20 s; log:"; tail -n 40 "$log"; return 1
}
# stop_process PID: SIGTERM, wait up to 10 s, and return its exit status.
stop_process() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 1
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid"; return $?; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  return 1
}
# url_with_database URL NAME: URL with its database (path) replaced by NAME.
url_with_database() {
  "$PY" -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$1" "$2"
}

# inspect_holds FILE PYEXPR: PYEXPR holds for the one entry of `docker trust inspect` output in
# FILE, as d, with tags (by name), signers and admin (key IDs by role name); prints both.
inspect_holds() {
  "$PY" - "$1" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))[0]
ok = eval(sys.argv[2], {"d": d, "tags": {t["SignedTag"]: t for t in d["SignedTags"]},
                        "signers": {s["Name"]: [k["ID"] for k in s["Keys"]] for s in d["Signers"]},
                        "admin": {a["Name"]: [k["ID"] for k in a["Keys"]] for a in d["AdministrativeKeys"]}})
print(json.dumps(d, indent=1)[:3000])
print("expression:", sys.argv[2], "->", ok)
sys.exit(0 if ok else 1)
EOF
}
