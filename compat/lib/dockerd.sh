# A Docker daemon, a registry and a tiny runnable image of the suite's own, for flows that push,
# pull, run and build images. Sourced by a flow after common.sh; needs TMP, CLEANUP_CMDS, free_port and
# NO_DAEMON_HOST from there.
#
#   dockerd_up DIR [DRIVER]
#                    Debian's dockerd with its own containerd, vfs storage (or the storage driver
#                    DRIVER) and no networking, everything under DIR (keep it short: unix socket
#                    paths are limited to 107 bytes); exports DOCKER_HOST=unix://DIR/sock
#   dockerd_down     stops that daemon and its containerd (only those), removes DIR
#   registry_up      Debian's docker-registry over TLS (the suite's server certificate, made for
#                    127.0.0.1) on a free loopback port, storage in TMP; installs the suite's CA as
#                    /etc/docker/certs.d/HOST:PORT/ca.crt for the daemon; exports REGISTRY=HOST:PORT
#   registry_down    stops it and removes that certs.d entry
#   image_make REF [VARIANT]
#                    tags a busybox image as REF: the first call imports it from a rootfs tarball
#                    (busybox-static); later calls only retag it. With VARIANT the image gets the
#                    label compat.variant=VARIANT: its own config and manifest digest, the same
#                    single layer (a push of it uploads no layer again).
#   registry_digest REF
#                    the manifest digest the registry serves for REF (skopeo, TLS verified)
#
# Each *_up registers its *_down with the suite's cleanup, so a failing run leaves no daemon,
# registry or certs.d entry behind. No base image can be pulled on a machine without Internet
# access: the image is made locally. Nothing here touches a daemon or containerd the suite did not
# start, the default socket, /etc/docker/daemon.json or /etc/docker/key.json.

DOCKERD_DIR=""
DOCKERD_PID=""
DOCKERD_CONTAINERD_PID=""
DOCKERD_BASE=""
REGISTRY=""
REGISTRY_PID=""
REGISTRY_CERTS_D=""
REGISTRY_MADE_CERTS_ROOT=""

# as_root CMD...: with sudo when not root, as common.sh installs packages.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
# dockerd_need PKG: says that Debian's PKG is missing and fails. common.sh installs every
# package of the daemon flow before any flow runs; a flow that sources this file is listed there.
dockerd_need() {
  echo "Debian's $1 is not installed (compat/lib/common.sh installs it for the flows that use it)"
  return 1
}

# dd_stop PID SECONDS: SIGTERM, then SIGKILL after SECONDS; waits for it (it is our child).
dd_stop() {
  local pid=$1 seconds=$2 i
  kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  for ((i = 0; i < seconds * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "pid $pid did not stop within $seconds s of SIGTERM; killed"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

dockerd_up() {
  local dir=$1 driver=${2:-vfs}
  if [ -n "$DOCKERD_PID" ]; then
    echo "this run's daemon is already up (pid $DOCKERD_PID)"
    return 1
  fi
  DOCKERD_DIR=$dir
  CLEANUP_CMDS+=(dockerd_down)
  [ -x /usr/sbin/dockerd ] || dockerd_need docker.io || return 1
  mkdir -p "$dir" || return 1
  # Our own containerd: given no --containerd, dockerd 20.10 would use the machine's containerd
  # whenever /run/containerd/containerd.sock exists.
  cat >"$dir/containerd.toml" <<EOF
version = 2
root = "$dir/containerd"
state = "$dir/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$dir/containerd.sock"
[ttrpc]
  address = "$dir/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/containerd-opt"
EOF
  containerd --config "$dir/containerd.toml" >"$dir/containerd.log" 2>&1 </dev/null &
  DOCKERD_CONTAINERD_PID=$!
  # A configuration file of our own, so that no /etc/docker/daemon.json is read. Daemons before
  # 23.0 also keep an identity key, by default /etc/docker/key.json: ours stays in DIR.
  local version
  version=$(dockerd --version | sed -n 's/^Docker version \([0-9]*\)\..*/\1/p')
  if [ -n "$version" ] && [ "$version" -lt 23 ]; then
    printf '{"deprecated-key-path": "%s/key.json"}\n' "$dir" >"$dir/daemon.json"
  else
    echo '{}' >"$dir/daemon.json"
  fi
  local i
  for ((i = 0; i < 100; i++)); do
    [ -S "$dir/containerd.sock" ] && break
    kill -0 "$DOCKERD_CONTAINERD_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ ! -S "$dir/containerd.sock" ]; then
    echo "containerd did not open $dir/containerd.sock within 10 s; its log:"
    tail -n 30 "$dir/containerd.log"
    return 1
  fi
  dockerd --config-file "$dir/daemon.json" --containerd "$dir/containerd.sock" \
    --storage-driver="$driver" --iptables=false --ip-masq=false --bridge=none \
    --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/pid" \
    -H "unix://$dir/sock" >"$dir/dockerd.log" 2>&1 </dev/null &
  DOCKERD_PID=$!
  export DOCKER_HOST="unix://$dir/sock"
  local start=$SECONDS
  while [ $((SECONDS - start)) -lt 60 ]; do
    if ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
      echo "dockerd exited before answering; its log:"
      tail -n 30 "$dir/dockerd.log"
      return 1
    fi
    if timeout 5 docker info --format '{{.ServerVersion}} {{.Driver}}' >"$dir/info" 2>/dev/null; then
      echo "dockerd $(cat "$dir/info") (pid $DOCKERD_PID) answers on $DOCKER_HOST after $((SECONDS - start)) s"
      return 0
    fi
    sleep 0.2
  done
  echo "dockerd did not answer 'docker info' on $DOCKER_HOST within 60 s; its log:"
  tail -n 30 "$dir/dockerd.log"
  return 1
}

dockerd_down() {
  local dir=$DOCKERD_DIR
  if [ -n "$DOCKERD_PID" ]; then
    dd_stop "$DOCKERD_PID" 30
    DOCKERD_PID=""
  fi
  if [ -n "$DOCKERD_CONTAINERD_PID" ]; then
    dd_stop "$DOCKERD_CONTAINERD_PID" 10
    DOCKERD_CONTAINERD_PID=""
  fi
  # No flow may reach a daemon it did not start: back to the socket that does not exist.
  export DOCKER_HOST=$NO_DAEMON_HOST
  [ -n "$dir" ] || return 0
  DOCKERD_DIR=""
  DOCKERD_BASE=""
  # dockerd makes its data root a mount point of its own; a daemon stopped the hard way leaves it.
  local mnt
  while read -r mnt; do
    as_root umount -l "$mnt" || true
  done < <(awk -v d="$dir/" 'index($2 "/", d) == 1 { print $2 }' /proc/mounts | sort -r)
  if awk -v d="$dir/" 'index($2 "/", d) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
    echo "still mounted under $dir:"
    grep -F "$dir" /proc/mounts
    return 1
  fi
  rm -rf "$dir"
  [ ! -e "$dir" ] || { echo "$dir could not be removed"; return 1; }
  echo "daemon and containerd stopped; $dir removed"
}

registry_up() {
  if [ -n "$REGISTRY_PID" ]; then
    echo "this run's registry is already up on $REGISTRY"
    return 1
  fi
  command -v docker-registry >/dev/null 2>&1 || dockerd_need docker-registry || return 1
  local port dir="$TMP/registry"
  port=$(free_port)
  mkdir -p "$dir/data"
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  accesslog:
    disabled: false
  level: info
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  tls:
    certificate: $TMP/server.crt
    key: $TMP/server.key
EOF
  # REGISTRY_HTTP_SECRET: one process, but without it the registry warns on every start.
  REGISTRY_HTTP_SECRET=$(openssl rand -hex 16) docker-registry serve "$dir/config.yml" \
    >"$dir/registry.log" 2>&1 </dev/null &
  REGISTRY_PID=$!
  CLEANUP_CMDS+=(registry_down)
  REGISTRY="127.0.0.1:$port"
  export REGISTRY
  # The daemon verifies the registry with the CAs under /etc/docker/certs.d/HOST:PORT/. The path
  # names this run's port, so it cannot clash with anything the machine has there.
  [ -d /etc/docker/certs.d ] || REGISTRY_MADE_CERTS_ROOT=1
  REGISTRY_CERTS_D="/etc/docker/certs.d/$REGISTRY"
  as_root mkdir -p "$REGISTRY_CERTS_D" && as_root cp "$TMP/ca.crt" "$REGISTRY_CERTS_D/ca.crt" || return 1
  local i code
  for ((i = 0; i < 100; i++)); do
    if ! kill -0 "$REGISTRY_PID" 2>/dev/null; then
      echo "docker-registry exited before answering; its log:"
      tail -n 30 "$dir/registry.log"
      return 1
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$TMP/ca.crt" "https://$REGISTRY/v2/" || true)
    if [ "$code" = 200 ]; then
      echo "docker-registry (pid $REGISTRY_PID) answers GET https://$REGISTRY/v2/ with 200 through the suite's CA"
      return 0
    fi
    sleep 0.2
  done
  echo "docker-registry did not answer 200 on https://$REGISTRY/v2/ within 20 s; its log:"
  tail -n 30 "$dir/registry.log"
  return 1
}

registry_down() {
  if [ -n "$REGISTRY_PID" ]; then
    dd_stop "$REGISTRY_PID" 10
    REGISTRY_PID=""
  fi
  if [ -n "$REGISTRY_CERTS_D" ]; then
    as_root rm -rf "$REGISTRY_CERTS_D"
    [ -z "$REGISTRY_MADE_CERTS_ROOT" ] || as_root rmdir /etc/docker/certs.d 2>/dev/null || true
    [ ! -e "$REGISTRY_CERTS_D" ] || { echo "$REGISTRY_CERTS_D could not be removed"; return 1; }
    echo "registry stopped; $REGISTRY_CERTS_D removed"
    REGISTRY_CERTS_D=""
    REGISTRY_MADE_CERTS_ROOT=""
  fi
}

registry_digest() {
  skopeo inspect --cert-dir "$REGISTRY_CERTS_D" --format '{{.Digest}}' "docker://$1"
}

image_make() {
  local ref=$1 variant=${2:-}
  local -a cmd=(-c 'CMD ["/bin/busybox", "true"]')
  if [ -z "$DOCKERD_BASE" ]; then
    busybox_static || dockerd_need busybox-static || return 1
    local root="$DOCKERD_DIR/rootfs" applet
    rm -rf "$root" && mkdir -p "$root/bin" "$root/tmp" "$root/etc" || return 1
    cp /bin/busybox "$root/bin/busybox" || return 1
    for applet in sh true echo cat ls; do ln -s busybox "$root/bin/$applet"; done
    # fixed owners and times: the same tarball, and so the same layer, on every run
    tar --owner=0 --group=0 --numeric-owner --mtime=@0 --sort=name -C "$root" -cf "$DOCKERD_DIR/rootfs.tar" . || return 1
    docker import "${cmd[@]}" "$DOCKERD_DIR/rootfs.tar" compat/busybox:base >/dev/null || return 1
    DOCKERD_BASE=compat/busybox:base
  fi
  if [ -z "$variant" ]; then
    docker tag "$DOCKERD_BASE" "$ref"
  else
    docker import "${cmd[@]}" -c "LABEL compat.variant=$variant" "$DOCKERD_DIR/rootfs.tar" "$ref" >/dev/null
  fi
}
