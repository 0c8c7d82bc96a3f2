# Token authentication and mutual TLS. Token authentication with Notarium as its own token service (`serve --auth-users`), driven
# by the real clients: the notary CLI (credentials in NOTARY_AUTH) and the Docker CLI
# (credentials for the image's registry in $DOCKER_CONFIG/config.json). Both follow the
# challenge to /auth/token, get a token for the scope they need, and retry.

if [ "$TARGET" = notarium ]; then
AU_PORT=$(free_port)
AU_URL="https://127.0.0.1:$AU_PORT"
AU_HOST="127.0.0.1:$AU_PORT"
AU_PASS="compat auth pass"
AU_GUN="example.com/compat/auth-$RANDOM$RANDOM"
AU_DGUN="registry.example.com/compat/auth-docker-$RANDOM$RANDOM"
printf 'auth target\n' >"$TMP/auth.txt"
# bcrypt, as `htpasswd -B` writes it (cost 4 keeps the flow fast)
AU_HASH=$("$PY" -W ignore -c 'import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))' "$AU_PASS")
printf '# compat users\nalice:%s\n' "$AU_HASH" >"$TMP/auth-users"
AU_CREDS=$(printf 'alice:%s' "$AU_PASS" | base64 -w0)
AU_BAD=$(printf 'alice:wrong' | base64 -w0)
nau() { notary -s "$AU_URL" --tlscacert "$TMP/ca.crt" -d "$TMP/trust-auth" "$@"; }
nau_fresh() { notary -s "$AU_URL" --tlscacert "$TMP/ca.crt" -d "$TMP/trust-auth-fresh-$RANDOM$RANDOM" "$@"; }
# as CREDS FUNCTION ARGS...: a client function with NOTARY_AUTH set to CREDS.
as_user() { local creds=$1; shift; NOTARY_AUTH="$creds" "$@"; }

au_start() {
  "$NOTARIUM_BIN" serve --listen "$AU_HOST" --data-dir "$TMP/auth-data" \
    --tls-cert "$TMP/server.crt" --tls-key "$TMP/server.key" --auth-users "$TMP/auth-users" \
    >"$TMP/auth-server.log" 2>&1 </dev/null &
  AU_PID=$!
  EXTRA_PIDS+=("$AU_PID")
  wait_healthy "$AU_URL" "$AU_PID" "$TMP/auth-server.log"
}
check "serve --auth-users starts (its own token service)" -- au_start
au_challenge() {
  curl -s -D - -o /dev/null --cacert "$TMP/ca.crt" "$AU_URL/v2/" | tr -d '\r'
}
step "GET /v2/ without a token: 401 and the challenge to follow" \
  --has "HTTP/1.1 401" \
  --has "www-authenticate: Bearer realm=\"$AU_URL/auth/token\",service=\"notarium\",scope=\"registry:catalog:*\"" \
  -- au_challenge

# --- notary CLI ------------------------------------------------------------------------------
step "notary without credentials cannot publish" --fail -- nau init -p "$AU_GUN"
step "notary with a wrong password cannot publish" --fail -- as_user "$AU_BAD" nau publish "$AU_GUN"
step "notary with NOTARY_AUTH publishes (init -p)" --has "Successfully published changes" \
  -- as_user "$AU_CREDS" nau publish "$AU_GUN"
step "notary with NOTARY_AUTH adds and publishes a target" --has "Successfully published changes" \
  -- as_user "$AU_CREDS" nau add -p "$AU_GUN" auth.txt "$TMP/auth.txt"
step "an anonymous reader is refused (an anonymous token grants nothing)" --fail \
  -- nau_fresh list "$AU_GUN"
step "a reader with credentials lists it" --has "auth.txt" \
  -- as_user "$AU_CREDS" nau_fresh list "$AU_GUN"
step "key rotation on the server (needs *) with credentials" --has "Successfully rotated timestamp key" \
  -- as_user "$AU_CREDS" nau key rotate "$AU_GUN" timestamp -r

# --- Docker CLI ------------------------------------------------------------------------------
AU_DOCKER="$TMP/docker-auth"
mkdir -p "$AU_DOCKER/tls/$AU_HOST"
cp "$TMP/ca.crt" "$AU_DOCKER/tls/$AU_HOST/ca.crt"
# Docker sends the credentials it holds for the image's registry to the trust server's realm.
printf '{"auths":{"registry.example.com":{"auth":"%s"}}}\n' "$AU_CREDS" >"$AU_DOCKER/config.json"
AU_NOAUTH="$TMP/docker-auth-none"
mkdir -p "$AU_NOAUTH/tls/$AU_HOST"
cp "$TMP/ca.crt" "$AU_NOAUTH/tls/$AU_HOST/ca.crt"
dau() {
  DOCKER_CONFIG="$AU_DOCKER" DOCKER_CONTENT_TRUST_SERVER="$AU_URL" \
    DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE="$NOTARY_ROOT_PASSPHRASE" \
    DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE="$NOTARY_TARGETS_PASSPHRASE" docker "$@"
}
dau_none() {
  DOCKER_CONFIG="$AU_NOAUTH" DOCKER_CONTENT_TRUST_SERVER="$AU_URL" docker "$@"
}
step "docker trust key generate" -- dau trust key generate authsigner --dir "$TMP"
step "docker trust signer add with credentials initialises the repository" \
  --has "Successfully added signer: authsigner to $AU_DGUN" \
  -- dau trust signer add --key "$TMP/authsigner.pub" authsigner "$AU_DGUN"
step "docker trust inspect with credentials shows the signer" --has "authsigner" \
  -- dau trust inspect --pretty "$AU_DGUN"
step "docker trust inspect without credentials is refused" --fail \
  -- dau_none trust inspect "$AU_DGUN"
check "the server logged no token and no password" -- \
  sh -c "! grep -E -q 'eyJ|$AU_PASS|$AU_CREDS' '$TMP/auth-server.log'"
au_stop() { stop_process "$AU_PID"; }
check "the authenticating server stops with exit status 0" -- au_stop

# --- mutual TLS ------------------------------------------------------------------------------
MT_PORT=$(free_port)
MT_URL="https://127.0.0.1:$MT_PORT"
MT_GUN="example.com/compat/mtls-$RANDOM$RANDOM"
mt_client_cert() {
  openssl ecparam -name prime256v1 -genkey -noout -out "$TMP/client.key" &&
    openssl req -new -key "$TMP/client.key" -out "$TMP/client.csr" -subj "/CN=compat client" &&
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
      "extendedKeyUsage=clientAuth" >"$TMP/client.ext" &&
    openssl x509 -req -sha256 -days 30 -in "$TMP/client.csr" -CA "$TMP/ca.crt" -CAkey "$TMP/ca.key" \
      -CAcreateserial -extfile "$TMP/client.ext" -out "$TMP/client.crt"
} >>"$TMP/openssl.log" 2>&1
check "a client certificate from the test CA" -- mt_client_cert
mt_start() {
  "$NOTARIUM_BIN" serve --listen "127.0.0.1:$MT_PORT" --data-dir "$TMP/mtls-data" \
    --tls-cert "$TMP/server.crt" --tls-key "$TMP/server.key" --tls-client-ca "$TMP/ca.crt" \
    >"$TMP/mtls-server.log" 2>&1 </dev/null &
  MT_PID=$!
  EXTRA_PIDS+=("$MT_PID")
  for _ in $(seq 100); do
    curl -sf -o /dev/null --cacert "$TMP/ca.crt" --cert "$TMP/client.crt" --key "$TMP/client.key" \
      "$MT_URL/_notary_server/health" && return 0
    kill -0 "$MT_PID" 2>/dev/null || break
    sleep 0.2
  done
  tail -n 20 "$TMP/mtls-server.log"; return 1
}
check "serve --tls-client-ca answers a client with a certificate" -- mt_start
step "a client without a certificate is refused in the handshake" --fail \
  -- curl -sS -o /dev/null --max-time 10 --cacert "$TMP/ca.crt" "$MT_URL/_notary_server/health"
cat >"$TMP/notary-mtls.json" <<EOF
{
  "trust_dir": "$TMP/trust-mtls",
  "remote_server": {
    "url": "$MT_URL",
    "root_ca": "$TMP/ca.crt",
    "tls_client_cert": "$TMP/client.crt",
    "tls_client_key": "$TMP/client.key"
  }
}
EOF
step "notary with its client certificate (config file) publishes" --has "Successfully published changes" \
  -- notary -c "$TMP/notary-mtls.json" init -p "$MT_GUN"
step "notary with its client certificate lists" --has "No targets present" \
  -- notary -c "$TMP/notary-mtls.json" list "$MT_GUN"
step "notary without a client certificate is refused" --fail \
  -- notary -s "$MT_URL" --tlscacert "$TMP/ca.crt" -d "$TMP/trust-mtls-none" list "$MT_GUN"
mt_stop() { stop_process "$MT_PID"; }
check "the mutual-TLS server stops with exit status 0" -- mt_stop
fi
