# ---------------------------------------------------------------------------------------------
# The embedded default: no TLS flags, so notarium generates a local CA in its data directory
# (what the README tells a new user to run), and stops cleanly on SIGTERM.
# ---------------------------------------------------------------------------------------------
if [ "$TARGET" = notarium ]; then
  printf 'generated CA target\n' >"$TMP/gen-target.txt"
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
  gen_publish() { gen init -p "$GEN_GUN" && gen add -p "$GEN_GUN" gen-target "$TMP/gen-target.txt"; }
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

