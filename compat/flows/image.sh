# The project's Dockerfile, built and run (Notarium only). No image registry can be reached
# here, so the base images are made from Debian packages first (lib/images.sh: debootstrap and
# `docker import`) and given to the Dockerfile as its RUST_IMAGE and RUNTIME_IMAGE build
# arguments. The image is built once by the suite's own daemon (lib/dockerd.sh), then run with a
# named volume: it serves over TLS with the local CA it generates in that volume; the notary CLI
# outside the container publishes and reads through it; the process runs as uid 10001; a new
# container on the same volume, and a `docker restart`, keep the trust data, the CA and the keys;
# `docker stop` ends it in a couple of seconds with exit status 0 after a graceful shutdown.
#
# The container uses the host's network (`--network host`): the suite's daemon has no bridge
# (`--bridge=none`, no iptables), so `-p` cannot publish a port. It listens on a free loopback
# port given by NOTARIUM_LISTEN, and the client on the host reaches it there as it would reach a
# published port.
#
#   COMPAT_IMAGE_BUILD_ARGS="NAME=VALUE …"
#                              more build arguments, e.g. the Dockerfile's CARGO_BUILD_JOBS or
#                              CARGO_PROFILE_RELEASE_* (default: none, the release profile as
#                              Cargo.toml has it)
#   COMPAT_IMAGE_ARCHIVE=FILE  load the image from FILE (`docker save`) instead of making the
#                              bases and building it: for working on the run steps. The build
#                              steps then fail on purpose, so a run with it never passes whole.

if [ "$TARGET" = notarium ]; then
# shellcheck source=../lib/dockerd.sh
. "$COMPAT_DIR/lib/dockerd.sh"
# shellcheck source=../lib/images.sh
. "$COMPAT_DIR/lib/images.sh"

IM="$TMP/image"
mkdir -p "$IM"
IM_RUNTIME_BASE=notarium-base/runtime:bookworm
IM_BUILDER_BASE=notarium-base/rust:bookworm
IM_REF=notarium-compat:image
IM_VOLUME=notarium-compat-data
IM_PORT=$(free_port)
IM_URL="https://127.0.0.1:$IM_PORT"
IM_GUN="example.com/compat/image-$RANDOM"
IM_CA="$IM/ca.crt"
IM_BASES_S="" IM_BUILD_S="" IM_RUN_START="" IM_STOP_MS=""
printf 'first target, published through the container\n' >"$IM/one.txt"
printf 'second target, published after a new container on the same volume\n' >"$IM/two.txt"

# --- a daemon, the bases and the build ----------------------------------------------------------
# A short directory: dockerd and containerd put unix sockets under it. overlay2, not vfs: the
# build commits a layer per instruction, and vfs copies the whole image (a gigabyte and more in
# the build stage) for each of them.
IM_DIR=$(mktemp -d /tmp/cim.XXXXXX)
check "dockerd starts on a socket of its own (overlay2, no networking, its own containerd)" -- dockerd_up "$IM_DIR" overlay2

im_bases() {
  local t=$SECONDS
  bases_make "$IM/bases" "$IM_RUNTIME_BASE" "$IM_BUILDER_BASE" || return 1
  IM_BASES_S=$((SECONDS - t))
}
# im_build: the Dockerfile with the bases as build arguments; the log in IM/build.log.
im_build() {
  local t=$SECONDS arg
  local -a args=(--build-arg "RUST_IMAGE=$IM_BUILDER_BASE" --build-arg "RUNTIME_IMAGE=$IM_RUNTIME_BASE")
  for arg in ${COMPAT_IMAGE_BUILD_ARGS:-}; do args+=(--build-arg "$arg"); done
  echo "docker build --network host ${args[*]}"
  if ! DOCKER_BUILDKIT=0 docker build --network host "${args[@]}" -t "$IM_REF" "$REPO_ROOT" >"$IM/build.log" 2>&1; then
    tail -n 40 "$IM/build.log"
    return 1
  fi
  IM_BUILD_S=$((SECONDS - t))
  grep -E '^(Step [0-9]+/[0-9]+ : |Successfully tagged )' "$IM/build.log"
  echo "built in $IM_BUILD_S s"
}
if [ -n "${COMPAT_IMAGE_ARCHIVE:-}" ]; then
  check "the image is loaded from $COMPAT_IMAGE_ARCHIVE (COMPAT_IMAGE_ARCHIVE)" -- \
    docker load -i "$COMPAT_IMAGE_ARCHIVE"
  IM_REF=$(docker image ls --format '{{.Repository}}:{{.Tag}}' | grep -v '^notarium-base/' | head -n 1 || true)
  not_built() { echo "not built: the image was loaded from an archive (COMPAT_IMAGE_ARCHIVE)"; return 1; }
  check "base images made from Debian packages (debootstrap, docker import)" -- not_built
  check "docker build of the Dockerfile with those bases as RUST_IMAGE and RUNTIME_IMAGE" -- not_built
else
  check "base images made from Debian packages (debootstrap, docker import)" -- im_bases
  echo "# image bases: ${IM_BASES_S:-?} s"
  check "docker build of the Dockerfile with those bases as RUST_IMAGE and RUNTIME_IMAGE" -- im_build
  echo "# image build: ${IM_BUILD_S:-?} s"
fi
IM_RUN_START=$SECONDS

# image_holds: the image's configuration says user 10001, the data volume, SIGTERM, serve.
image_holds() {
  local got
  got=$(docker image inspect --format '{{.Config.User}} {{json .Config.Volumes}} {{.Config.StopSignal}} {{json .Config.Entrypoint}} {{json .Config.Cmd}}' "$IM_REF") || return 1
  echo "$got; $(docker image inspect --format '{{.Size}}' "$IM_REF") bytes"
  [ "$got" = '10001:10001 {"/var/lib/notarium":{}} SIGTERM ["/usr/local/bin/notarium"] ["serve"]' ]
}
check "the image runs notarium serve as 10001:10001, with a volume at /var/lib/notarium and STOPSIGNAL SIGTERM" -- image_holds
echo "# image size: $(docker image inspect --format '{{.Size}}' "$IM_REF" 2>/dev/null || echo ?) bytes"

# --- run it --------------------------------------------------------------------------------------
# im_run NAME: a container of the image on the flow's volume and loopback port, in the background.
im_run() {
  docker run -d --name "$1" --network host -e "NOTARIUM_LISTEN=127.0.0.1:$IM_PORT" \
    -v "$IM_VOLUME:/var/lib/notarium" "$IM_REF"
}
# im_up NAME [CA]: NAME answers its health check over TLS with the CA of its volume, copied out of
# the container to IM/ca.crt (or, given CA, with that copy: the one made before).
im_up() {
  local name=$1 ca=${2:-} i
  for ((i = 0; i < 100; i++)); do
    if [ "$(docker inspect --format '{{.State.Running}}' "$name" 2>/dev/null)" != true ]; then
      echo "container $name is not running; its log:"
      docker logs "$name" 2>&1 | tail -n 30
      return 1
    fi
    if [ -z "$ca" ]; then
      docker cp "$name:/var/lib/notarium/tls/ca.crt" "$IM_CA" >/dev/null 2>&1 || { sleep 0.2; continue; }
    fi
    if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$IM_CA" "$IM_URL/_notary_server/health")" = 200 ]; then
      echo "$name answers GET $IM_URL/_notary_server/health with 200 through the CA of its volume"
      return 0
    fi
    sleep 0.2
  done
  echo "$name did not answer on $IM_URL within 20 s; its log:"
  docker logs "$name" 2>&1 | tail -n 30
  return 1
}
# in_c NAME CMD...: a command inside the running container.
in_c() { docker exec "$@"; }
# runs_as NAME: PID 1 of the container is notarium, as 10001:10001, as seen from inside (the
# kernel's /proc/1/status) and from the host (`docker top`).
runs_as() {
  local comm ids top
  comm=$(in_c "$1" cat /proc/1/comm) || return 1
  ids=$(in_c "$1" sh -c "sed -n 's/^\(Uid\|Gid\):[[:space:]]*//p' /proc/1/status | tr -s '[:space:]' ' '") || return 1
  top=$(docker top "$1" -o pid,uid,gid,args) || return 1
  echo "PID 1: $comm, uid/gid (real, effective, saved, fs): $ids"
  echo "docker top: $top"
  [ "$comm" = notarium ] && [ "$ids" = "10001 10001 10001 10001 10001 10001 10001 10001 " ] &&
    echo "$top" | awk 'NR > 1 { n++; if ($2 != 10001 || $3 != 10001 || $0 !~ /notarium serve$/) bad = 1 } END { exit !(n == 1 && !bad) }'
}
# im_stop NAME: `docker stop` returns within 5 s (its timeout is 10 s), the exit status is 0, the
# daemon did not have to kill it, and the log shows the graceful shutdown.
im_stop() {
  local t0 t1 status before
  # a restarted container's log holds the earlier runs too: this stop must add a line
  before=$(docker logs "$1" 2>&1 | grep -c "shutting down" || true)
  t0=$(date +%s%N)
  docker stop "$1" >/dev/null || return 1
  t1=$(date +%s%N)
  status=$(docker inspect --format '{{.State.ExitCode}} {{.State.OOMKilled}}' "$1") || return 1
  IM_STOP_MS=$(((t1 - t0) / 1000000))
  echo "docker stop took $IM_STOP_MS ms; exit status and OOM-killed: $status"
  docker logs "$1" 2>&1 | tail -n 3
  [ $(((t1 - t0) / 1000000)) -lt 5000 ] && [ "$status" = "0 false" ] &&
    [ "$(docker logs "$1" 2>&1 | grep -c "shutting down")" -gt "$before" ]
}
im_n() { notary -s "$IM_URL" --tlscacert "$IM_CA" -d "$1" "${@:2}"; }
im_publish() { im_n "$IM/trust" init -p "$IM_GUN" && im_n "$IM/trust" add -p "$IM_GUN" one "$IM/one.txt"; }
im_add_two() { im_n "$IM/trust" add -p "$IM_GUN" two "$IM/two.txt"; }
im_fresh_n=0
im_fresh() { im_fresh_n=$((im_fresh_n + 1)); im_n "$IM/trust-fresh-$im_fresh_n" "$@"; }
# im_verify TARGET: a fresh client passes the target's content through `verify`, unchanged.
im_verify() {
  im_fresh verify "$IM_GUN" "$1" -i "$IM/$1.txt" -o "$IM/$1.verified" && cmp "$IM/$1.txt" "$IM/$1.verified"
}
same_ca() {
  docker cp "$1:/var/lib/notarium/tls/ca.crt" "$IM/ca-again.crt" || return 1
  cmp "$IM_CA" "$IM/ca-again.crt" && echo "the CA in the volume is the one the client holds"
}

step "docker volume create" --has "$IM_VOLUME" -- docker volume create "$IM_VOLUME"
step "docker run of the image, detached, on the volume (host network, a loopback port)" \
  --re '^[0-9a-f]{64}$' -- im_run notarium-compat-1
check "the container serves over TLS with the local CA it generated in its volume" -- im_up notarium-compat-1
step "its log says where it serves and how to trust its CA" \
  --has "serving on https://127.0.0.1:$IM_PORT" --has "export DOCKER_CONTENT_TRUST_SERVER=https://127.0.0.1:$IM_PORT" \
  -- docker logs notarium-compat-1
check "PID 1 is notarium, running as uid and gid 10001 (/proc/1/status, docker top)" -- runs_as notarium-compat-1
step "the data directory in the volume belongs to 10001" --re '^10001:10001 /var/lib/notarium/$' \
  -- in_c notarium-compat-1 stat -c '%u:%g %n' /var/lib/notarium/
step "the notary CLI outside the container initialises a repository and publishes a target" \
  --has "Successfully published changes for repository $IM_GUN" -- im_publish
step "a fresh client lists the target" --re "^ *one +[0-9a-f]{64} +[0-9]+ +targets" -- im_fresh list "$IM_GUN"
step "a fresh client verifies its content" -- im_verify one
check "docker stop ends it within 5 s with exit status 0 after a graceful shutdown" -- im_stop notarium-compat-1
echo "# docker stop: ${IM_STOP_MS:-?} ms"

step "docker rm of the stopped container" -- docker rm notarium-compat-1
step "docker run of a new container on the same volume" --re '^[0-9a-f]{64}$' -- im_run notarium-compat-2
check "the new container answers through the CA the client already holds" -- im_up notarium-compat-2 kept
check "its CA is the one in the volume from before" -- same_ca notarium-compat-2
step "a fresh client still lists the target published through the first container" \
  --re "^ *one +[0-9a-f]{64} +[0-9]+ +targets" -- im_fresh list "$IM_GUN"
step "the publisher adds a second target (the server's keys in the volume still sign)" \
  --has "Successfully published changes for repository $IM_GUN" -- im_add_two
step "docker restart" --has notarium-compat-2 -- docker restart notarium-compat-2
check "after the restart it answers again" -- im_up notarium-compat-2 kept
step "a fresh client lists both targets after the restart" \
  --re "^ *one +[0-9a-f]{64}" --re "^ *two +[0-9a-f]{64}" -- im_fresh list "$IM_GUN"
step "a fresh client verifies the second target" -- im_verify two
check "docker stop ends it within 5 s with exit status 0 after a graceful shutdown (again)" -- im_stop notarium-compat-2
echo "# docker stop: ${IM_STOP_MS:-?} ms"
echo "# image flow: bases ${IM_BASES_S:-?} s, build ${IM_BUILD_S:-?} s, run $((SECONDS - IM_RUN_START)) s"

# --- stop what the flow started ------------------------------------------------------------------
step "docker rm of the second container" -- docker rm notarium-compat-2
step "the volume is removed" --has "$IM_VOLUME" -- docker volume rm "$IM_VOLUME"
check "the daemon and its containerd stop and their directory is removed" -- dockerd_down
fi
