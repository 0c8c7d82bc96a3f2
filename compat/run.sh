#!/usr/bin/env bash
# Real-client compatibility suite: drives the Debian `notary` 0.7 CLI against a running trust
# server over TLS and checks every answer the client depends on.
#
#   COMPAT_TARGET=notarium       (default) the server under test, from $NOTARIUM_BIN
#                                (default: target/debug/notarium at the repository root)
#   COMPAT_TARGET=notary-server  the Go reference server, to prove the suite itself right
#   COMPAT_KEEP=1                keep the temporary directory (trust dirs, server log)
#
# Output: one `ok N - …` / `not ok N - …` line per step, then `N passed, N failed`.
# Exit status is non-zero when any step failed. Everything is written to one mktemp directory.
set -euo pipefail

COMPAT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(dirname "$COMPAT_DIR")
TARGET=${COMPAT_TARGET:-notarium}
STEP_TIMEOUT=${COMPAT_STEP_TIMEOUT:-60}
START_TIME=$(date +%s)
export LC_ALL=C PYTHONUTF8=1

case "$TARGET" in
  notarium | notary-server) ;;
  *) echo "COMPAT_TARGET must be 'notarium' or 'notary-server', not '$TARGET'" >&2; exit 2 ;;
esac

# ---------------------------------------------------------------------------------------------
# Prerequisites
# ---------------------------------------------------------------------------------------------
need_apt=()
{ command -v notary >/dev/null 2>&1 && command -v notary-server >/dev/null 2>&1; } || need_apt+=(notary)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v curl >/dev/null 2>&1 || need_apt+=(curl ca-certificates)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
command -v timeout >/dev/null 2>&1 || need_apt+=(coreutils)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  echo "# installing ${need_apt[*]}"
  ${sudo_cmd[@]+"${sudo_cmd[@]}"} apt-get update
  DEBIAN_FRONTEND=noninteractive ${sudo_cmd[@]+"${sudo_cmd[@]}"} apt-get install -y "${need_apt[@]}"
fi

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

cleanup() {
  local status=$?
  if [ -n "${GEN_PID:-}" ]; then kill -KILL "$GEN_PID" 2>/dev/null || true; fi
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
  "$NOTARIUM_BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$TMP/data" \
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
  # Client shorthands become plain commands so that they run under `timeout`.
  case "$1" in
    na) set -- "${NOTARY_CMD[@]}" -d "$TRUST_A" "${@:2}" ;;
    nb) set -- "${NOTARY_CMD[@]}" -d "$TRUST_B" "${@:2}" ;;
    nc_) set -- "${NOTARY_CMD[@]}" -d "$2" "${@:3}" ;;
    nfresh) FRESH_N=$((FRESH_N + 1)); set -- "${NOTARY_CMD[@]}" -d "$TMP/trust-fresh-$FRESH_N" "${@:2}" ;;
  esac
  local rc=0
  if declare -F "$1" >/dev/null; then
    "$@" <"$input" >"$LAST_STDOUT" 2>"$TMP/last.stderr" || rc=$?
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
    return 0
  fi
  FAILED=$((FAILED + 1))
  echo "not ok $STEP - $desc"
  local w
  for w in "${why[@]}"; do echo "#   $w"; done
  printf '#   command:'; printf ' %q' "$@"; echo
  echo "#   output:"
  sed 's/^/#     /' "$LAST_OUT"
  return 0
}

# check DESC -- CMD...: a local assertion (file comparison, JSON check); passes on exit 0.
check() { step "$@"; }

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
# local_key_id ROLE: the ID `notary key list` shows for ROLE of the test GUN in trust dir A.
# (`key list` shortens long GUNs to ".../<tail>", hence the match on the last component.)
local_key_id() {
  na key list 2>/dev/null | awk -v r="$1" -v t="/$GUN_TAIL" \
    '$1 == r && substr($2, length($2) - length(t) + 1) == t { print $3 }'
}
# http_status PATH: the status code of GET URL/PATH.
http_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$TMP/ca.crt" "$URL$1"
}
expect_status() { local got; got=$(http_status "$1"); echo "GET $1 -> $got"; [ "$got" = "$2" ]; }

# race.py: runs a publishing client whose targets passphrase must be typed (on a pty); when it
# asks for it — after it has read the remote state, before it signs and uploads — runs another
# client to completion, then answers. Prints the first client's output and "racer exit N".
cat >"$TMP/race.py" <<'EOF'
import os, pty, select, signal, subprocess, sys, time
timeout, answer = float(sys.argv[1]), sys.argv[2].encode()
rest = sys.argv[3:]
sep = rest.index("--")
stale, racer = rest[:sep], rest[sep + 1:]
env = dict(os.environ)
env.pop("NOTARY_TARGETS_PASSPHRASE", None)
pid, fd = pty.fork()
if pid == 0:
    os.execvpe(stale[0], stale, env)
buf, raced, deadline, status = b"", False, time.time() + timeout, None
try:
    while True:
        if time.time() > deadline:
            buf += b"\n[timed out]\n"
            break
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                break
            buf += data
        if not raced and b"passphrase for targets key" in buf.lower():
            raced = True
            r = subprocess.run(racer, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=max(1.0, deadline - time.time()))
            buf += b"\n[racer exit %d]\n" % r.returncode + r.stdout
            os.write(fd, answer + b"\n")
    if b"[timed out]" not in buf:
        _, status = os.waitpid(pid, 0)
except Exception as e:  # racer timeout and the like: report it
    buf += ("\n[error: %r]\n" % e).encode()
finally:
    if status is None:  # never leave the client behind
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
sys.stdout.write(buf.decode("utf-8", "replace"))
if not raced:
    print("[the client never asked for the targets passphrase]")
    sys.exit(99)
sys.exit(os.waitstatus_to_exitcode(status) if status is not None else 98)
EOF

NOTARY_CMD=(notary -s "$URL" --tlscacert "$TMP/ca.crt")

# ---------------------------------------------------------------------------------------------
# Test data
# ---------------------------------------------------------------------------------------------
GUN_TAIL="app-$RANDOM$RANDOM"
GUN="example.com/compat/$GUN_TAIL"
GUN_KEYLIST="[^ ]*/$GUN_TAIL " # how `key list` prints it (long GUNs are shortened to ".../tail")
NEVER="example.com/compat/never-published-$RANDOM$RANDOM"
HOST="127.0.0.1:$PORT"
printf 'hello, trust\n' >"$TMP/hello.txt"
printf '<html>&amp;</html>\n' >"$TMP/odd.txt"
printf 'n\xc3\xa4\xc3\xafve data \xe2\x9c\x93\n' >"$TMP/unicode.txt"
head -c 70000 /dev/urandom >"$TMP/blob.bin"
printf 'not the published content\n' >"$TMP/wrong.txt"
printf 'release 1\n' >"$TMP/release.txt"
printf 'more\n' >"$TMP/more.txt"
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
size_of() { wc -c <"$1" | tr -d ' '; }
b64_of_hex() { "$PY" -c 'import base64, sys; print(base64.b64encode(bytes.fromhex(sys.argv[1])).decode())' "$1"; }
T_PLAIN="hello.txt"
T_ODD="odd <name> & co.html"
T_UNI=$'d\xc3\xa9j\xc3\xa0-vu/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e.txt' # déjà-vu/日本語.txt
T_BLOB="dir/blob.bin"
H_PLAIN=$(sha256_of "$TMP/hello.txt")
H_ODD=$(sha256_of "$TMP/odd.txt")
H_UNI=$(sha256_of "$TMP/unicode.txt")
H_BLOB=$(sha256_of "$TMP/blob.bin")
HASHED_SIZE=123456
HASHED256=$(printf 'hashed target' | sha256sum | cut -d' ' -f1)
HASHED512=$(printf 'hashed target' | sha512sum | cut -d' ' -f1)
ONLY512=$(printf 'sha512 only' | sha512sum | cut -d' ' -f1)

# ---------------------------------------------------------------------------------------------
# The server is up
# ---------------------------------------------------------------------------------------------
check "health endpoint answers 200" -- expect_status /_notary_server/health 200
check "GET /v2/ (the client's ping) answers 200" -- expect_status /v2/ 200

# ---------------------------------------------------------------------------------------------
# Repositories that do not exist
# ---------------------------------------------------------------------------------------------
step "list of a never-published GUN fails with 'does not have trust data'" --fail \
  --has "* fatal: $HOST does not have trust data for $NEVER" -- nfresh list "$NEVER"
step "lookup in a never-published GUN fails with 'does not have trust data'" --fail \
  --has "does not have trust data for $NEVER" -- nfresh lookup "$NEVER" "$T_PLAIN"
check "GET root.json of an unknown GUN answers 404" -- \
  expect_status "/v2/$NEVER/_trust/tuf/root.json" 404

# ---------------------------------------------------------------------------------------------
# init -p
# ---------------------------------------------------------------------------------------------
step "init -p publishes a new repository" \
  --has "Successfully published changes for repository $GUN" -- na init -p "$GUN"
step "the publisher holds root, targets and snapshot keys" \
  --re "^root  " --re "^targets +$GUN_KEYLIST" --re "^snapshot +$GUN_KEYLIST" -- na key list
step "a second client with no keys sees an empty repository" \
  --has "No targets present in this repository." -- nb list "$GUN"
step "that reader holds no keys" --has "No signing keys found." -- nb key list
step "an early reader caches root v1" --has "No targets present in this repository." \
  -- nc_ "$TRUST_EARLY" list "$GUN"
check "the server serves the uploaded snapshot v2, listing root and targets" -- is_true "$TRUST_B" "$GUN" snapshot \
  "d['signed']['version'] == 2 and sorted(d['signed']['meta']) == ['root', 'targets']"
check "the root the server returned is version 1" -- is_true "$TRUST_B" "$GUN" root "d['signed']['version'] == 1"
step "publish with nothing staged (uploads only a re-signed snapshot)" \
  --has "Successfully published changes for repository $GUN" -- na publish "$GUN"

# ---------------------------------------------------------------------------------------------
# add (several targets, awkward names) and publish
# ---------------------------------------------------------------------------------------------
step "add a plain target (staged)" --has "Addition of target \"$T_PLAIN\"" --has "staged for next publish" \
  -- na add "$GUN" "$T_PLAIN" "$TMP/hello.txt"
step "add a target whose name has <, > and & (staged)" --has "Addition of target \"$T_ODD\"" \
  -- na add "$GUN" "$T_ODD" "$TMP/odd.txt"
step "add a target with a non-ASCII name (staged)" --has "Addition of target \"$T_UNI\"" \
  -- na add "$GUN" "$T_UNI" "$TMP/unicode.txt"
step "add a 70 KB target (staged)" --has "Addition of target \"$T_BLOB\"" \
  -- na add "$GUN" "$T_BLOB" "$TMP/blob.bin"
step "status lists the four staged additions" --has "$T_PLAIN" --has "$T_ODD" --has "$T_UNI" --has "$T_BLOB" \
  -- na status "$GUN"
step "publish the staged targets" --has "Successfully published changes for repository $GUN" -- na publish "$GUN"
step "status is clean after publishing" --has "No unpublished changes for $GUN" -- na status "$GUN"
step "the publisher lists all four targets" --has "$T_PLAIN" --has "$T_ODD" --has "$T_UNI" --has "$H_BLOB" \
  -- na list "$GUN"
step "the reader lists all four targets with their digests" \
  --re "^$T_PLAIN +$H_PLAIN +$(size_of "$TMP/hello.txt") +targets" \
  --re "^$T_ODD +$H_ODD +$(size_of "$TMP/odd.txt") +targets" \
  --re "^$T_UNI +$H_UNI +$(size_of "$TMP/unicode.txt") +targets" \
  --re "^$T_BLOB +$H_BLOB +70000 +targets" -- nb list "$GUN"
step "a fresh client looks up the <>& target" --has "$T_ODD sha256:$H_ODD $(size_of "$TMP/odd.txt")" \
  -- nfresh lookup "$GUN" "$T_ODD"
step "a fresh client looks up the non-ASCII target" --has "$T_UNI sha256:$H_UNI" \
  -- nfresh lookup "$GUN" "$T_UNI"
check "the stored targets file keeps the raw names" -- is_true "$TRUST_B" "$GUN" targets \
  "set(d['signed']['targets']) == {'$T_PLAIN', '$T_ODD', '$T_UNI', '$T_BLOB'} and d['signed']['version'] == 3"

# ---------------------------------------------------------------------------------------------
# verify
# ---------------------------------------------------------------------------------------------
step "verify passes the published content through (reader)" -- \
  nb verify "$GUN" "$T_PLAIN" -i "$TMP/hello.txt" -o "$TMP/verified-plain.out"
check "verify output is byte-identical to the input" -- cmp "$TMP/hello.txt" "$TMP/verified-plain.out"
step "verify from stdin of the non-ASCII target (fresh client)" --in "$TMP/unicode.txt" \
  --save "$TMP/verified-uni.out" -- nfresh verify "$GUN" "$T_UNI"
check "verify stdout is byte-identical to stdin" -- cmp "$TMP/unicode.txt" "$TMP/verified-uni.out"
step "verify of the 70 KB target from stdin" --in "$TMP/blob.bin" --save "$TMP/verified-blob.out" \
  -- nb verify "$GUN" "$T_BLOB"
check "verify stdout is byte-identical (70 KB)" -- cmp "$TMP/blob.bin" "$TMP/verified-blob.out"
step "verify rejects content that does not match" --fail --in "$TMP/wrong.txt" \
  --has "data not present in the trusted collection" -- nb verify "$GUN" "$T_ODD"

# ---------------------------------------------------------------------------------------------
# addhash
# ---------------------------------------------------------------------------------------------
step "addhash with --sha256 and --sha512, published" --re "by sha(256, sha512|512, sha256) hash" \
  --has "Successfully published changes for repository $GUN" \
  -- na addhash -p "$GUN" hashed-both "$HASHED_SIZE" --sha256 "$HASHED256" --sha512 "$HASHED512"
step "addhash with --sha512 only, published" --has "by sha512 hash" \
  --has "Successfully published changes for repository $GUN" \
  -- na addhash -p "$GUN" hashed-512 1024 --sha512 "$ONLY512"
step "the reader looks up the hashed target" --has "hashed-both sha256:$HASHED256 $HASHED_SIZE" \
  -- nb lookup "$GUN" hashed-both
step "the reader lists the sha512-only target" --re "^hashed-512 +1024 +targets" -- nb list "$GUN"
check "both hashes of the addhash target reached the server" -- is_true "$TRUST_B" "$GUN" targets \
  "d['signed']['targets']['hashed-both']['hashes'] == {'sha256': '$(b64_of_hex "$HASHED256")', 'sha512': '$(b64_of_hex "$HASHED512")'}"
check "the sha512-only target carries only sha512" -- is_true "$TRUST_B" "$GUN" targets \
  "d['signed']['targets']['hashed-512']['hashes'] == {'sha512': '$(b64_of_hex "$ONLY512")'} and d['signed']['targets']['hashed-512']['length'] == 1024"

# ---------------------------------------------------------------------------------------------
# error paths on an existing repository
# ---------------------------------------------------------------------------------------------
step "lookup of a target that does not exist fails" --fail \
  --has "No valid trust data for no-such-target" -- nb lookup "$GUN" no-such-target
step "verify of a target that does not exist fails" --fail --in "$TMP/hello.txt" \
  --has "No valid trust data for no-such-target" -- nb verify "$GUN" no-such-target

# ---------------------------------------------------------------------------------------------
# remove, several publishes in a row
# ---------------------------------------------------------------------------------------------
step "remove a target and publish" --has "Removal of $T_BLOB from $GUN staged for next publish" \
  --has "Successfully published changes for repository $GUN" -- na remove -p "$GUN" "$T_BLOB"
step "the removed target is gone for the reader" --lacks "$T_BLOB" --has "$T_PLAIN" -- nb list "$GUN"
step "lookup of the removed target fails" --fail --has "No valid trust data for $T_BLOB" \
  -- nfresh lookup "$GUN" "$T_BLOB"
for i in 1 2 3; do
  step "publish in a row #$i (add more-$i -p)" --has "Successfully published changes for repository $GUN" \
    -- na add -p "$GUN" "more-$i" "$TMP/more.txt"
done
step "publish in a row #4 (nothing staged)" --has "Successfully published changes for repository $GUN" \
  -- na publish "$GUN"
step "publish in a row #5 (nothing staged)" --has "Successfully published changes for repository $GUN" \
  -- na publish "$GUN"
step "the reader sees every target of the series" --has "more-1" --has "more-2" --has "more-3" -- nb list "$GUN"

# ---------------------------------------------------------------------------------------------
# witness
# ---------------------------------------------------------------------------------------------
TV_BEFORE=$(meta "$TRUST_B" "$GUN" targets "d['signed']['version']" || echo -1)
step "witness targets -p re-signs and publishes" --has "marked for witnessing on the next publish" \
  --has "- targets" --has "Successfully published changes for repository $GUN" -- na witness -p "$GUN" targets
step "the reader still lists after the witness" --has "$T_ODD" -- nb list "$GUN"
check "the server holds a newer targets version with the same targets" -- is_true "$TRUST_B" "$GUN" targets \
  "d['signed']['version'] > $TV_BEFORE and 'more-3' in d['signed']['targets']"
step "witness without -p is staged" --has "- targets" -- na witness "$GUN" targets
step "status shows the staged witness" --has "witness" -- na status "$GUN"
step "publish the staged witness" --has "Successfully published changes for repository $GUN" -- na publish "$GUN"

# ---------------------------------------------------------------------------------------------
# delegation targets/releases (part filenames contain a slash)
# ---------------------------------------------------------------------------------------------
step "import a delegation key" -- na key import "$TMP/releases.key" --role targets/releases
step "delegation add targets/releases -p" --has "Addition of delegation role targets/releases" \
  --has "Successfully published changes for repository $GUN" \
  -- na delegation add -p "$GUN" targets/releases "$TMP/releases.crt" --all-paths
step "the reader lists the delegation" --re "^targets/releases +\"\" <all paths>" -- nb delegation list "$GUN"
step "add a target to targets/releases -p" --has "Successfully published changes for repository $GUN" \
  -- na add -p "$GUN" release-1 "$TMP/release.txt" --roles targets/releases
step "the reader lists the delegated target in its role" \
  --re "^release-1 +$(sha256_of "$TMP/release.txt") +[0-9]+ +targets/releases" -- nb list "$GUN"
step "a fresh client looks up the delegated target" --has "release-1 sha256:$(sha256_of "$TMP/release.txt")" \
  -- nfresh lookup "$GUN" release-1
RV_BEFORE=$(meta "$TRUST_B" "$GUN" targets/releases "d['signed']['version']" || echo -1)
step "witness targets/releases -p" --has "- targets/releases" \
  --has "Successfully published changes for repository $GUN" -- na witness -p "$GUN" targets/releases
step "the reader lists after the delegation witness" --has "release-1" -- nb list "$GUN"
check "the server holds a newer targets/releases" -- is_true "$TRUST_B" "$GUN" targets/releases \
  "d['signed']['version'] > $RV_BEFORE and 'release-1' in d['signed']['targets']"

# ---------------------------------------------------------------------------------------------
# a second publisher, and a stale publisher (version conflict)
# ---------------------------------------------------------------------------------------------
TRUST_A2="$TMP/trust-a2"
cp -a "$TRUST_A" "$TRUST_A2"
step "publisher A publishes" --has "Successfully published changes" -- na add -p "$GUN" from-a "$TMP/more.txt"
step "publisher A2 (same keys, older cache) publishes on top of it" --has "Successfully published changes" \
  -- nc_ "$TRUST_A2" add -p "$GUN" from-a2 "$TMP/more.txt"
step "both publishers' targets are on the server" --has "from-a" --has "from-a2" -- nfresh list "$GUN"
step "a publisher that read before another published is refused (version conflict)" --fail \
  --has "[racer exit 0]" --has "* fatal: trust server rejected operation." --lacks "[timed out]" \
  -- "$PY" "$TMP/race.py" 45 "$NOTARY_TARGETS_PASSPHRASE" \
  "${NOTARY_CMD[@]}" -d "$TRUST_A2" add -p "$GUN" stale-target "$TMP/more.txt" \
  -- "${NOTARY_CMD[@]}" -d "$TRUST_A" add -p "$GUN" racing-target "$TMP/more.txt"
step "the refused change is still staged" --has "stale-target" -- nc_ "$TRUST_A2" status "$GUN"
step "the racing publisher's target is on the server, the stale one is not" \
  --has "racing-target" --lacks "stale-target" -- nfresh list "$GUN"
step "the stale publisher retries and succeeds" --has "Successfully published changes" \
  -- nc_ "$TRUST_A2" publish "$GUN"
step "both targets are now on the server" --has "racing-target" --has "stale-target" -- nb list "$GUN"
rm -rf "$TRUST_A2"

# ---------------------------------------------------------------------------------------------
# key rotations
# ---------------------------------------------------------------------------------------------
OLD_TARGETS_KEY=$(local_key_id targets)
step "key rotate targets" --has "Successfully rotated targets key for repository $GUN" \
  -- na key rotate "$GUN" targets
NEW_TARGETS_KEY=$(local_key_id targets)
step "the publisher lists after the targets rotation" --has "$T_ODD" --has "release-1" -- na list "$GUN"
step "the reader lists after the targets rotation" --has "$T_ODD" --has "release-1" -- nb list "$GUN"
check "the server's root lists the new targets key" -- key_in_root "$TRUST_B" "$GUN" targets "$NEW_TARGETS_KEY"
check "the new targets key differs from the old one" -- test "$OLD_TARGETS_KEY" != "$NEW_TARGETS_KEY"
step "add -p signed with the new targets key" --has "Successfully published changes" \
  -- na add -p "$GUN" after-targets-rotation "$TMP/more.txt"
step "the reader sees it" --has "after-targets-rotation" -- nb list "$GUN"

step "key rotate snapshot -r (hand the snapshot key to the server)" \
  --has "Successfully rotated snapshot key for repository $GUN" -- na key rotate "$GUN" snapshot -r
step "the publisher no longer holds a snapshot key" --no-re "^snapshot +$GUN_KEYLIST" --re "^targets +$GUN_KEYLIST" -- na key list
step "the publisher lists with a server-held snapshot" --has "after-targets-rotation" -- na list "$GUN"
step "the reader lists with a server-held snapshot" --has "after-targets-rotation" -- nb list "$GUN"
SNAP_KEY=$(server_key_id "$GUN" snapshot || true)
check "the server's root lists the server's snapshot key" -- key_in_root "$TRUST_B" "$GUN" snapshot "$SNAP_KEY"
step "add -p with a server-held snapshot" --has "Successfully published changes" \
  -- na add -p "$GUN" server-snapshot "$TMP/more.txt"
step "remove -p with a server-held snapshot" --has "Successfully published changes" \
  -- na remove -p "$GUN" more-1
step "the reader sees the server-signed snapshot's targets" --has "server-snapshot" --lacks "more-1" -- nb list "$GUN"
step "a fresh client looks up a target under the server-signed snapshot" \
  --has "server-snapshot sha256:$(sha256_of "$TMP/more.txt")" -- nfresh lookup "$GUN" server-snapshot
step "publish with nothing staged, server-held snapshot (a multipart body with no parts)" \
  --has "Successfully published changes for repository $GUN" -- na publish "$GUN"
step "the reader lists after it" --has "server-snapshot" -- nb list "$GUN"
step "delegated add -p with a server-held snapshot" --has "Successfully published changes" \
  -- na add -p "$GUN" release-2 "$TMP/release.txt" --roles targets/releases
step "the reader sees the delegated target" --re "^release-2 .* targets/releases" -- nb list "$GUN"
check "the snapshot is now signed by the server's key" -- is_true "$TRUST_B" "$GUN" snapshot \
  "[s['keyid'] for s in d['signatures']] == ['$SNAP_KEY']"

step "key rotate snapshot (take the key back)" --has "Successfully rotated snapshot key for repository $GUN" \
  -- na key rotate "$GUN" snapshot
step "the publisher holds a snapshot key again" --re "^snapshot +$GUN_KEYLIST" -- na key list
CLIENT_SNAP_KEY=$(local_key_id snapshot)
step "add -p with the client-held snapshot again" --has "Successfully published changes" \
  -- na add -p "$GUN" client-snapshot-again "$TMP/more.txt"
step "the reader lists after taking the snapshot key back" --has "client-snapshot-again" -- nb list "$GUN"
check "the server's root lists the client's snapshot key" -- key_in_root "$TRUST_B" "$GUN" snapshot "$CLIENT_SNAP_KEY"

OLD_TS_KEY=$(server_key_id "$GUN" timestamp || true)
step "key rotate timestamp -r" --has "Successfully rotated timestamp key for repository $GUN" \
  -- na key rotate "$GUN" timestamp -r
step "the publisher lists after the timestamp rotation" --has "client-snapshot-again" -- na list "$GUN"
step "the reader lists after the timestamp rotation" --has "client-snapshot-again" -- nb list "$GUN"
NEW_TS_KEY=$(server_key_id "$GUN" timestamp || true)
check "the server's root lists the new timestamp key" -- key_in_root "$TRUST_B" "$GUN" timestamp "$NEW_TS_KEY"
check "the timestamp key changed" -- test "$OLD_TS_KEY" != "$NEW_TS_KEY"
check "the timestamp is signed by the new key" -- is_true "$TRUST_B" "$GUN" timestamp \
  "[s['keyid'] for s in d['signatures']] == ['$NEW_TS_KEY']"
step "add -p after the timestamp rotation" --has "Successfully published changes" \
  -- na add -p "$GUN" after-timestamp-rotation "$TMP/more.txt"
step "the reader sees it" --has "after-timestamp-rotation" -- nb list "$GUN"

ROOT_V=$(meta "$TRUST_B" "$GUN" root "d['signed']['version']" || echo -1)
step "key rotate root answered 'no' asks for confirmation and aborts" --in <(printf 'no\n') \
  --has "Warning: you are about to rotate your root key." \
  --has "Are you sure you want to proceed?  (yes/no)" --has "Aborting action." \
  --lacks "Successfully rotated" -- na key rotate "$GUN" root
step "the reader lists after the aborted rotation" --has "after-timestamp-rotation" -- nb list "$GUN"
check "the aborted rotation changed nothing on the server" -- is_true "$TRUST_B" "$GUN" root \
  "d['signed']['version'] == $ROOT_V"
step "key rotate root answered 'yes'" --in <(printf 'yes\n') \
  --has "You must use your old key to sign this root rotation." \
  --has "Successfully rotated root key for repository $GUN" -- na key rotate "$GUN" root
step "the publisher lists after the root rotation" --has "after-timestamp-rotation" -- na list "$GUN"
step "the reader lists after the root rotation" --has "after-timestamp-rotation" -- nb list "$GUN"
check "the new root is the next version and carries two signatures" -- is_true "$TRUST_B" "$GUN" root \
  "d['signed']['version'] == $ROOT_V + 1 and len(d['signatures']) == 2"
step "the early reader (cached root v1) walks the root chain and lists" \
  --has "after-timestamp-rotation" --has "release-2" -- nc_ "$TRUST_EARLY" list "$GUN"
check "the early reader now trusts the newest root" -- is_true "$TRUST_EARLY" "$GUN" root \
  "d['signed']['version'] == $ROOT_V + 1"
step "a fresh client lists after the root rotation" --has "after-timestamp-rotation" --has "$T_UNI" \
  -- nfresh list "$GUN"
step "a fresh client looks up after the root rotation" --has "$T_ODD sha256:$H_ODD" \
  -- nfresh lookup "$GUN" "$T_ODD"
step "a fresh client verifies after the root rotation" --in "$TMP/odd.txt" --save "$TMP/verified-odd.out" \
  -- nfresh verify "$GUN" "$T_ODD"
check "verify stdout is byte-identical after the root rotation" -- cmp "$TMP/odd.txt" "$TMP/verified-odd.out"
step "add -p after the root rotation" --has "Successfully published changes" \
  -- na add -p "$GUN" after-root-rotation "$TMP/more.txt"
step "the reader sees it" --has "after-root-rotation" -- nb list "$GUN"

# ---------------------------------------------------------------------------------------------
# delegation remove
# ---------------------------------------------------------------------------------------------
step "delegation remove -p -y" --has "Forced removal (including all keys and paths) of delegation role targets/releases" \
  --has "Successfully published changes for repository $GUN" -- na delegation remove -p -y "$GUN" targets/releases
step "the reader no longer sees the delegation's targets" --lacks "release-1" --lacks "release-2" \
  --has "after-root-rotation" -- nb list "$GUN"
step "the reader no longer lists the delegation" --has "No delegations present in this repository." --lacks "targets/releases" -- nb delegation list "$GUN"

# ---------------------------------------------------------------------------------------------
# delete --remote, then start over
# ---------------------------------------------------------------------------------------------
step "delete --remote" --has "Successfully deleted local and remote trust data for repository $GUN" \
  -- na delete "$GUN" --remote
step "a fresh client no longer finds the repository" --fail \
  --has "* fatal: $HOST does not have trust data for $GUN" -- nfresh list "$GUN"
check "GET root.json of the deleted GUN answers 404" -- expect_status "/v2/$GUN/_trust/tuf/root.json" 404
check "GET timestamp.json of the deleted GUN answers 404" -- expect_status "/v2/$GUN/_trust/tuf/timestamp.json" 404
step "init -p of the same GUN works again" --has "Successfully published changes for repository $GUN" \
  -- na init -p "$GUN"
step "a fresh client sees the new, empty repository" --has "No targets present in this repository." \
  -- nfresh list "$GUN"
check "the new repository starts again at root version 1" -- is_true "$TMP/trust-fresh-$FRESH_N" "$GUN" root \
  "d['signed']['version'] == 1"
step "add -p to the re-created repository" --has "Successfully published changes" \
  -- na add -p "$GUN" "$T_PLAIN" "$TMP/hello.txt"
step "a fresh client lists only the new target" --has "$T_PLAIN" --lacks "$T_ODD" -- nfresh list "$GUN"
step "a reader that trusted the old root refuses the re-created repository" --fail \
  --has "could not rotate trust to a new trusted root" -- nb list "$GUN"

# ---------------------------------------------------------------------------------------------
# Docker CLI smoke (the full Docker matrix is its own suite): no daemon is needed for
# `docker trust` or for the tag-to-digest step of a content-trust pull.
# ---------------------------------------------------------------------------------------------
export DOCKER_CONFIG="$TMP/docker"
mkdir -p "$DOCKER_CONFIG/tls/$HOST"
cp "$TMP/ca.crt" "$DOCKER_CONFIG/tls/$HOST/ca.crt"
export DOCKER_CONTENT_TRUST_SERVER="$URL"
export DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE="$NOTARY_ROOT_PASSPHRASE"
export DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE="$NOTARY_TARGETS_PASSPHRASE"
D_GUN="registry.example.com/compat/docker-$RANDOM"
D_DIGEST=$(printf 'compat manifest' | sha256sum | cut -d' ' -f1)
dn() { notary -s "$URL" --tlscacert "$TMP/ca.crt" -d "$DOCKER_CONFIG/trust" "$@"; }
dpull() { DOCKER_CONTENT_TRUST=1 docker pull "$@"; }
step "docker trust key generate" --has "Successfully generated and loaded private key" \
  -- docker trust key generate alice --dir "$TMP"
step "docker trust signer add initialises a new repository" \
  --has "Successfully initialized \"$D_GUN\"" --has "Successfully added signer: alice to $D_GUN" \
  -- docker trust signer add --key "$TMP/alice.pub" alice "$D_GUN"
step "notary addhash of a tag into the docker-made repository" --has "Successfully published changes" \
  -- dn addhash -p "$D_GUN" v1 15 --sha256 "$D_DIGEST"
step "docker trust sign of a tag already in trust data" --has "Successfully signed $D_GUN:v1" \
  -- docker trust sign "$D_GUN:v1"
step "docker trust inspect --pretty shows the tag, its signer and the keys" \
  --re "v1 +$D_DIGEST +alice" --has "Root Key:" -- docker trust inspect --pretty "$D_GUN"
step "a content-trust pull resolves the tag to its signed digest" --fail \
  --has "Pull (1 of 1): $D_GUN:v1@sha256:$D_DIGEST" -- dpull "$D_GUN:v1"
step "a content-trust pull of an unsigned tag is refused" --fail \
  --has "No valid trust data for nope" --lacks "Pull (1 of 1)" -- dpull "$D_GUN:nope"
unset DOCKER_CONTENT_TRUST_SERVER

# ---------------------------------------------------------------------------------------------
# The embedded default: no TLS flags, so notarium generates a local CA in its data directory
# (what the README tells a new user to run), and stops cleanly on SIGTERM.
# ---------------------------------------------------------------------------------------------
if [ "$TARGET" = notarium ]; then
  GEN_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  GEN_URL="https://127.0.0.1:$GEN_PORT"
  "$NOTARIUM_BIN" serve --listen "127.0.0.1:$GEN_PORT" --data-dir "$TMP/gen-data" \
    >"$TMP/gen.log" 2>&1 </dev/null &
  GEN_PID=$!
  gen_up() {
    for _ in $(seq 100); do
      [ -f "$TMP/gen-data/tls/ca.crt" ] && curl -sf -o /dev/null --max-time 2 \
        --cacert "$TMP/gen-data/tls/ca.crt" "$GEN_URL/_notary_server/health" && return 0
      sleep 0.2
    done
    cat "$TMP/gen.log"
    return 1
  }
  check "serve with no TLS flags generates a local CA and answers over TLS with it" -- gen_up
  check "serve prints the CA path and the docker commands" -- \
    grep -q "export DOCKER_CONTENT_TRUST_SERVER=https://127.0.0.1:$GEN_PORT" "$TMP/gen.log"
  GEN_GUN="example.com/compat/generated-$RANDOM"
  gen() { notary -s "$GEN_URL" --tlscacert "$TMP/gen-data/tls/ca.crt" -d "$TMP/trust-gen" "$@"; }
  gen_publish() { gen init -p "$GEN_GUN" && gen add -p "$GEN_GUN" gen-target "$TMP/hello.txt"; }
  step "init -p and add -p through the generated CA" --has "Successfully published changes" \
    -- gen_publish
  step "a fresh client lists it" --has "gen-target" -- \
    notary -s "$GEN_URL" --tlscacert "$TMP/gen-data/tls/ca.crt" -d "$TMP/trust-gen-2" list "$GEN_GUN"
  gen_stop() {
    kill -TERM "$GEN_PID"
    for _ in $(seq 100); do kill -0 "$GEN_PID" 2>/dev/null || { wait "$GEN_PID"; return $?; }; sleep 0.1; done
    return 1
  }
  check "SIGTERM stops the server with exit status 0" -- gen_stop
fi

# ---------------------------------------------------------------------------------------------
echo "# $TARGET, $(($(date +%s) - START_TIME)) s"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
