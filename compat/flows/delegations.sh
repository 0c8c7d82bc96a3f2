# Delegations with the notary CLI, on their own repository: an administrator (root and targets
# keys; the server holds the snapshot key, as delegations need) and delegates that each hold one
# delegation key and nothing else.
#
#   targets/all      --all-paths, key D1; D1 delegates targets/all/sub (paths sub/) to D4
#   targets/lib      paths lib/ and docs/, keys D2 (+ D3 added, removed, added, purged)
#   targets/duo      keys D2 and D3, threshold raised to 2 by the administrator
#
# The notary CLI checks paths and thresholds itself before it uploads, so the server's own
# checks are reached the way an attacker or a stale client would reach them: a delegate reads
# the repository, the administrator narrows the delegation while the delegate is typing its
# passphrase (lib/race.py), then the delegate uploads what it signed.

DG="example.com/compat/delegations-$RANDOM$RANDOM"
TRUST_DA="$TMP/trust-del-admin"
da() { nc_ "$TRUST_DA" "$@"; }
# delegate NAME KEY ROLE: a trust dir that holds only KEY, imported for ROLE.
delegate() { nc_ "$TMP/trust-del-$1" key import "$TMP/$2.key" --role "$3"; }
dd() { local who=$1; shift; nc_ "$TMP/trust-del-$who" "$@"; }
printf 'delegated content\n' >"$TMP/del.txt"
H_DEL=$(sha256_of "$TMP/del.txt")
for k in d1 d2 d3 d4; do new_cert "$k"; done
D1=$(cert_key_id "$TMP/d1.crt"); D2=$(cert_key_id "$TMP/d2.crt")
D3=$(cert_key_id "$TMP/d3.crt"); D4=$(cert_key_id "$TMP/d4.crt")
# delegation_rows ROLE: the rows a fresh client's `delegation list` prints for ROLE.
delegation_rows() {
  nc_ "$TMP/trust-fresh-del-$RANDOM$RANDOM" delegation list "$DG" |
    awk -v r="$1" '$1 ~ /^targets\// { cur = $1 } cur == r'
}

step "init -p a repository for delegations" --has "Successfully published changes" -- da init -p "$DG"
step "hand the snapshot key to the server (delegates hold no snapshot key)" \
  --has "Successfully rotated snapshot key" -- da key rotate "$DG" snapshot -r

# --- adding delegations, paths and keys ------------------------------------------------------
step "delegation add --all-paths" --has "Successfully published changes" -- da delegation add -p "$DG" targets/all "$TMP/d1.crt" --all-paths
step "delegation add with two path prefixes" --has "Successfully published changes" \
  -- da delegation add -p "$DG" targets/lib "$TMP/d2.crt" --paths lib/ --paths docs/
step "delegation add of a second key to an existing delegation" \
  --has "Successfully published changes" -- da delegation add -p "$DG" targets/lib "$TMP/d3.crt"
step "a fresh client lists both delegations, their paths and keys" \
  --re "^targets/all +\"\" <all paths> +$D1 +1" --re "^targets/lib +(lib|docs)/ +($D2|$D3) +1" \
  --has "$D2" --has "$D3" -- nc_ "$TMP/trust-fresh-del-1" delegation list "$DG"

# --- publishing into delegations -------------------------------------------------------------
step "delegate D1 imports its key" -- delegate one d1 targets/all
step "delegate D1 publishes into targets/all with --roles" --has "Successfully published changes" \
  -- dd one add -p "$DG" anywhere/one.txt "$TMP/del.txt" --roles targets/all
step "delegate D2 imports its key" -- delegate two d2 targets/lib
step "delegate D2 publishes under lib/" --has "Successfully published changes" \
  -- dd two add -p "$DG" lib/two.txt "$TMP/del.txt" --roles targets/lib
step "a fresh client lists both delegated targets with their roles" \
  --re "^anywhere/one.txt +$H_DEL +[0-9]+ +targets/all" --re "^lib/two.txt +$H_DEL +[0-9]+ +targets/lib" \
  -- nc_ "$TMP/trust-fresh-del-2" list "$DG"
step "the client itself refuses a target outside the delegation's paths" --fail --has "Could not add all targets" \
  -- dd two add -p "$DG" elsewhere/no.txt "$TMP/del.txt" --roles targets/lib
step "the delegate drops the refused change" -- dd two reset "$DG" --all

# A stale delegate: it read docs/ as allowed, the administrator removed docs/ before it uploaded.
if [ "$TARGET" = notarium ]; then
  step "the server refuses a delegated target outside the (narrowed) paths" --fail \
    --has "[racer exit 0]" --lacks "[timed out]" \
    --has "The targets metadata is invalid: target \"docs/stale.txt\" is outside the paths delegated to targets/lib" \
    -- "$PY" "$COMPAT_DIR/lib/race.py" 45 "passphrase for targets/lib key" \
    NOTARY_DELEGATION_PASSPHRASE "$NOTARY_DELEGATION_PASSPHRASE" \
    "${NOTARY_CMD[@]}" -d "$TMP/trust-del-two" add -p "$DG" docs/stale.txt "$TMP/del.txt" --roles targets/lib \
    -- "${NOTARY_CMD[@]}" -d "$TRUST_DA" delegation remove -p "$DG" targets/lib --paths docs/
else
  # notary-server stores it (readers filter it out), see docs/compat.md.
  step "notary-server accepts a delegated target outside the (narrowed) paths" \
    --has "[racer exit 0]" --lacks "[timed out]" \
    -- "$PY" "$COMPAT_DIR/lib/race.py" 45 "passphrase for targets/lib key" \
    NOTARY_DELEGATION_PASSPHRASE "$NOTARY_DELEGATION_PASSPHRASE" \
    "${NOTARY_CMD[@]}" -d "$TMP/trust-del-two" add -p "$DG" docs/stale.txt "$TMP/del.txt" --roles targets/lib \
    -- "${NOTARY_CMD[@]}" -d "$TRUST_DA" delegation remove -p "$DG" targets/lib --paths docs/
fi
step "no reader sees the out-of-paths target" --has "lib/two.txt" --lacks "docs/stale.txt" \
  -- nc_ "$TMP/trust-fresh-del-3" list "$DG"
step "the narrowed delegation keeps lib/ only" --re "^targets/lib +lib/ " --lacks "docs/" \
  -- nc_ "$TMP/trust-fresh-del-4" delegation list "$DG"
dd two reset "$DG" --all >/dev/null 2>&1 || true

# --- nested delegation -----------------------------------------------------------------------
step "delegate D1 (holding targets/all) adds the nested targets/all/sub" \
  --has "Successfully published changes" \
  -- dd one delegation add -p "$DG" targets/all/sub "$TMP/d4.crt" --paths anywhere/sub/
step "delegate D4 imports its key for targets/all/sub" -- delegate four d4 targets/all/sub
step "delegate D4 publishes into the nested delegation" --has "Successfully published changes" \
  -- dd four add -p "$DG" anywhere/sub/deep.txt "$TMP/del.txt" --roles targets/all/sub
step "a fresh client lists the nested target with its role" \
  --re "^anywhere/sub/deep.txt +$H_DEL +[0-9]+ +targets/all/sub" --has "anywhere/one.txt" \
  -- nc_ "$TMP/trust-fresh-del-5" list "$DG"
step "a fresh client verifies the nested target" --in "$TMP/del.txt" --save "$TMP/del-verified.out" \
  -- nc_ "$TMP/trust-fresh-del-6" verify "$DG" anywhere/sub/deep.txt
check "verify output is byte-identical" -- cmp "$TMP/del.txt" "$TMP/del-verified.out"

# --- removing keys: one delegation, then --purge from all -----------------------------------
step "delegation remove of one key" --has "Successfully published changes" \
  -- da delegation remove -p "$DG" targets/lib "$D3"
step "the delegation keeps only the other key" --has "$D2" --lacks "$D3" -- delegation_rows targets/lib
step "stage the same key for targets/lib" -- da delegation add "$DG" targets/lib "$TMP/d3.crt"
step "and for targets/all, publishing both" --has "Successfully published changes" \
  -- da delegation add -p "$DG" targets/all "$TMP/d3.crt"
step "targets/all lists it" --has "$D3" -- delegation_rows targets/all
step "targets/lib lists it" --has "$D3" -- delegation_rows targets/lib
step "delegation purge --key removes it from every delegation" --has "Successfully published changes" \
  -- da delegation purge -p "$DG" --key "$D3"
step "no delegation lists the purged key, the others keep theirs" --lacks "$D3" --has "$D1" --has "$D2" \
  -- nc_ "$TMP/trust-fresh-del-7" delegation list "$DG"
step "targets signed before the purge still list" --has "anywhere/one.txt" --has "lib/two.txt" \
  --has "anywhere/sub/deep.txt" -- nc_ "$TMP/trust-fresh-del-8" list "$DG"

# --- a threshold above 1 ---------------------------------------------------------------------
# The CLI always writes threshold 1; the administrator raises it with its targets key
# (lib/resign.py re-signs targets.json; the server signs the snapshot).
step "delegation add of targets/duo with two keys" --has "Successfully published changes" \
  -- da delegation add -p "$DG" targets/duo "$TMP/d2.crt" "$TMP/d3.crt" --all-paths
DA_TARGETS=$(local_key_id targets "$TRUST_DA" "$DG")
# raise_threshold ROLE N: the administrator publishes targets.json with ROLE's threshold at N.
raise_threshold() {
  curl -sS --fail --max-time 10 --cacert "$TMP/ca.crt" "$URL/v2/$DG/_trust/tuf/targets.json" \
    -o "$TMP/targets-current.json" &&
    "$PY" "$COMPAT_DIR/lib/resign.py" "$TMP/targets-current.json" "$TMP/targets-raised.json" \
      "$TRUST_DA/private/$DA_TARGETS.key" "$NOTARY_TARGETS_PASSPHRASE" "$DA_TARGETS" \
      "[r.update(threshold=$2) for r in s['delegations']['roles'] if r['name'] == '$1']" &&
    curl -sS --fail-with-body --max-time 10 --cacert "$TMP/ca.crt" \
      -F "files=@$TMP/targets-raised.json;filename=targets" "$URL/v2/$DG/_trust/tuf/"
}
step "delegate D3 (one of the two keys) imports its key" -- delegate three d3 targets/duo
step "a delegate signing with one key after the threshold went to 2 is refused by the server" --fail \
  --has "[racer exit 0]" --has "valid signatures did not meet threshold for targets/duo" --lacks "[timed out]" \
  -- "$PY" "$COMPAT_DIR/lib/race.py" 45 "passphrase for targets/duo key" \
  NOTARY_DELEGATION_PASSPHRASE "$NOTARY_DELEGATION_PASSPHRASE" \
  "${NOTARY_CMD[@]}" -d "$TMP/trust-del-three" add -p "$DG" duo/one.txt "$TMP/del.txt" --roles targets/duo \
  -- bash -c "$(declare -f raise_threshold); $(declare -p URL TMP DG PY COMPAT_DIR TRUST_DA DA_TARGETS NOTARY_TARGETS_PASSPHRASE); raise_threshold targets/duo 2"
step "a fresh client shows threshold 2" --re "^targets/duo +\"\" <all paths> +($D2|$D3) +2" \
  -- nc_ "$TMP/trust-fresh-del-9" delegation list "$DG"
dd three reset "$DG" --all >/dev/null 2>&1 || true
step "the client with one key refuses to sign (found 1 of 2 needed keys)" --fail \
  --has "not enough signing keys: found 1 of 2 needed keys" \
  -- dd three add -p "$DG" duo/one.txt "$TMP/del.txt" --roles targets/duo
dd three reset "$DG" --all >/dev/null 2>&1 || true
step "the delegate imports the second key" -- dd three key import "$TMP/d2.key" --role targets/duo
step "signed by both keys, the delegated target is accepted" --has "Successfully published changes" \
  -- dd three add -p "$DG" duo/two.txt "$TMP/del.txt" --roles targets/duo
step "a fresh client lists it (two valid signatures of a threshold-2 role)" \
  --re "^duo/two.txt +$H_DEL +[0-9]+ +targets/duo" --lacks "duo/one.txt" \
  -- nc_ "$TMP/trust-fresh-del-10" list "$DG"

# --- removing a whole delegation -------------------------------------------------------------
step "delegation remove of a whole role" --has "Successfully published changes" \
  -- da delegation remove -p -y "$DG" targets/lib
step "its targets are gone, the others stay" --lacks "lib/two.txt" --has "anywhere/one.txt" \
  --has "duo/two.txt" -- nc_ "$TMP/trust-fresh-del-11" list "$DG"
