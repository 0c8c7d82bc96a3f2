# The notary CLI through one repository: init, targets, verify, addhash, delegations, two
# publishers and a stale one, every key rotation, delete and re-init.

# ---------------------------------------------------------------------------------------------
# Test data
# ---------------------------------------------------------------------------------------------
GUN_TAIL="app-$RANDOM$RANDOM"
GUN="example.com/compat/$GUN_TAIL"
GUN_KEYLIST="[^ ]*/$GUN_TAIL " # how `key list` prints it (long GUNs are shortened to ".../tail")
NEVER="example.com/compat/never-published-$RANDOM$RANDOM"
printf 'hello, trust\n' >"$TMP/hello.txt"
printf '<html>&amp;</html>\n' >"$TMP/odd.txt"
printf 'n\xc3\xa4\xc3\xafve data \xe2\x9c\x93\n' >"$TMP/unicode.txt"
head -c 70000 /dev/urandom >"$TMP/blob.bin"
printf 'not the published content\n' >"$TMP/wrong.txt"
printf 'release 1\n' >"$TMP/release.txt"
printf 'more\n' >"$TMP/more.txt"
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
  -- "$PY" "$COMPAT_DIR/lib/race.py" 45 "passphrase for targets key" NOTARY_TARGETS_PASSPHRASE "$NOTARY_TARGETS_PASSPHRASE" \
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

