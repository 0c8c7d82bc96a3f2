# The base images of the project's Dockerfile, made from Debian packages: no image registry can
# be reached on these machines, so nothing is pulled. Sourced by a flow after dockerd.sh, with the
# suite's daemon up (docker talks to it through DOCKER_HOST).
#
#   bases_make DIR RUNTIME_REF BUILDER_REF
#       makes both bases, their root file systems under DIR (removed after the import):
#       - RUNTIME_REF: `debootstrap --variant=minbase bookworm`, slimmed as Debian's slim images
#         are (bases_slim), then `docker import`: the stand-in for debian:bookworm-slim (apt-get,
#         useradd, no compiler);
#       - BUILDER_REF: the same with gcc, libc6-dev, make, ca-certificates and pkg-config, plus the
#         machine's own Rust toolchain (cargo and rustc with their libraries, no documentation)
#         under /usr/local: the stand-in for rust:1-bookworm. The toolchain must be at least
#         Cargo.toml's rust-version (bookworm's and trixie's rustc are older; docs/decisions.md).
#         The machine's local CAs are added to it (bases_local_cas).
#       The two debootstraps run side by side (each mostly waits for downloads and dpkg).
#       Prints the seconds each part took.
#
#   COMPAT_DEBIAN_MIRROR=URL   the Debian mirror for debootstrap (default: debootstrap's own)
#   COMPAT_BASE_CACHE=DIR      keep the two root file system tarballs in DIR and import those on
#                              later runs instead of bootstrapping again (for development; CI
#                              leaves it unset and makes the bases afresh)

BASES_SUITE=bookworm
BASES_BUILDER_PACKAGES=gcc,libc6-dev,make,ca-certificates,pkg-config

# bases_sysroot: the Rust toolchain cargo builds the project with here. The suite points HOME at
# its temporary directory, where rustup's proxies would find no toolchain: ask with the user's
# own home.
bases_sysroot() {
  if [ -n "${COMPAT_RUST_SYSROOT:-}" ]; then
    echo "$COMPAT_RUST_SYSROOT"
    return 0
  fi
  local home
  home=$(getent passwd "$(id -u)" | cut -d: -f6)
  HOME=$home rustc --print sysroot
}

# bases_version_ok RUSTC: RUSTC is at least Cargo.toml's rust-version.
bases_version_ok() {
  local want have
  want=$(sed -n 's/^rust-version = "\([0-9.]*\)"$/\1/p' "$REPO_ROOT/Cargo.toml")
  have=$("$1" --version | sed -n 's/^rustc \([0-9][0-9.]*\).*/\1/p')
  echo "rustc $have (Cargo.toml rust-version $want) from $1"
  [ -n "$want" ] && [ -n "$have" ] &&
    [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n 1)" = "$want" ]
}

# bases_bootstrap DIR LOG [PACKAGES]: a minbase root of BASES_SUITE in DIR, with PACKAGES.
bases_bootstrap() {
  local -a args=(--variant=minbase)
  [ -z "${3:-}" ] || args+=("--include=$3")
  args+=("$BASES_SUITE" "$1")
  [ -z "${COMPAT_DEBIAN_MIRROR:-}" ] || args+=("$COMPAT_DEBIAN_MIRROR")
  as_root debootstrap "${args[@]}" >"$2" 2>&1 || { tail -n 20 "$2"; return 1; }
  # the downloaded packages are in the root's apt cache: not part of an image
  as_root find "$1/var/cache/apt/archives" -name '*.deb' -delete
}

# bases_local_cas DIR: the machine's local CA certificates (/usr/local/share/ca-certificates, as
# update-ca-certificates reads them) go into the builder root too, and into its bundle. The build
# downloads crates over HTTPS from the builder; where the machine's HTTPS goes through a proxy
# that presents its own CA, the builder trusts what the machine trusts. The runtime base gets
# none of them: the image that ships trusts Debian's bundle only.
bases_local_cas() {
  local src=/usr/local/share/ca-certificates
  compgen -G "$src/*.crt" >/dev/null || return 0
  as_root mkdir -p "$1$src" && as_root cp "$src"/*.crt "$1$src/" || return 1
  if ! as_root chroot "$1" update-ca-certificates >"$1.ca.log" 2>&1; then
    cat "$1.ca.log"
    return 1
  fi
}

# bases_slim DIR: the runtime root made like Debian's slim images: no documentation (but the
# copyright files), manual pages, info pages or translations, now and in later installs (dpkg's
# path-exclude), and apt keeps no package lists or caches in an image layer (an `apt-get update`
# in the Dockerfile would otherwise leave some 60 MB of caches behind).
bases_slim() {
  local root=$1
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
    'path-exclude /usr/share/groff/*' 'path-exclude /usr/share/lintian/*' \
    'path-exclude /usr/share/locale/*' | as_root tee "$root/etc/dpkg/dpkg.cfg.d/excludes" >/dev/null || return 1
  local clean='rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true'
  printf '%s\n' "DPkg::Post-Invoke { \"$clean\"; };" "APT::Update::Post-Invoke { \"$clean\"; };" \
    'Dir::Cache::pkgcache "";' 'Dir::Cache::srcpkgcache "";' |
    as_root tee "$root/etc/apt/apt.conf.d/docker-clean" >/dev/null || return 1
  [ -d "$root/usr/share/doc" ] && [ -d "$root/var/lib/apt" ] || return 1
  as_root find "$root/usr/share/doc" -mindepth 1 -not -type d -not -name copyright -delete
  as_root find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  as_root find "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/groff" \
    "$root/usr/share/lintian" "$root/usr/share/locale" "$root/var/lib/apt/lists" \
    -mindepth 1 -delete 2>/dev/null || true
  as_root find "$root/var/cache/apt" -maxdepth 1 -name '*.bin' -delete
}

# bases_tar DIR TARBALL: the root file system in DIR as a tarball (numeric owners, as is).
bases_tar() {
  as_root tar --numeric-owner --one-file-system -C "$1" -cf "$2" .
}

bases_make() {
  local dir=$1 runtime=$2 builder=$3 cache=${COMPAT_BASE_CACHE:-}
  command -v debootstrap >/dev/null 2>&1 || dockerd_need debootstrap || return 1
  mkdir -p "$dir" || return 1
  local sysroot
  sysroot=$(bases_sysroot) || { echo "no Rust toolchain found (rustc --print sysroot)"; return 1; }
  bases_version_ok "$sysroot/bin/rustc" || { echo "the toolchain is older than rust-version"; return 1; }
  local rt_tar="$dir/runtime.tar" bd_tar="$dir/builder.tar" start=$SECONDS
  if [ -n "$cache" ] && [ -s "$cache/runtime.tar" ] && [ -s "$cache/builder-debian.tar" ]; then
    echo "root file systems from $cache (COMPAT_BASE_CACHE)"
    rt_tar="$cache/runtime.tar"
    cp "$cache/builder-debian.tar" "$bd_tar" || return 1
  else
    local rt_pid bd_pid rt_status=0 bd_status=0
    bases_bootstrap "$dir/runtime" "$dir/debootstrap-runtime.log" &
    rt_pid=$!
    bases_bootstrap "$dir/builder" "$dir/debootstrap-builder.log" "$BASES_BUILDER_PACKAGES" &
    bd_pid=$!
    wait "$rt_pid" || rt_status=$?
    wait "$bd_pid" || bd_status=$?
    [ "$rt_status" -eq 0 ] || { echo "debootstrap of the runtime root failed"; return 1; }
    [ "$bd_status" -eq 0 ] || { echo "debootstrap of the builder root failed"; return 1; }
    bases_slim "$dir/runtime" || { echo "the runtime root could not be slimmed"; return 1; }
    bases_local_cas "$dir/builder" || { echo "the machine's local CAs could not be added to the builder"; return 1; }
    echo "debootstrap $BASES_SUITE (runtime, and builder with $BASES_BUILDER_PACKAGES): $((SECONDS - start)) s"
    bases_tar "$dir/runtime" "$rt_tar" && bases_tar "$dir/builder" "$bd_tar" || return 1
    as_root rm -rf --one-file-system "$dir/runtime" "$dir/builder"
    if [ -n "$cache" ]; then
      mkdir -p "$cache" && cp "$rt_tar" "$cache/runtime.tar" && cp "$bd_tar" "$cache/builder-debian.tar"
    fi
  fi
  # The toolchain goes into the builder's tarball as usr/local/{bin,lib}: rustc finds its
  # libraries and its sysroot from its own path (../lib). Only what a build needs: cargo, rustc,
  # the compiler's libraries and the standard library (no docs, sources, rustfmt or clippy).
  local t=$SECONDS
  # The entries under lib/, not lib/ itself: ./usr/local/lib is in the tarball already, and
  # `docker import` refuses a path given twice.
  (cd "$sysroot" && tar --owner=0 --group=0 --numeric-owner \
    --exclude=lib/rustlib/src --exclude=lib/rustlib/rustc-src --exclude=lib/rustlib/etc \
    --transform 's,^,./usr/local/,' -rf "$bd_tar" bin/cargo bin/rustc lib/*) || return 1
  echo "toolchain from $sysroot added: $((SECONDS - t)) s"
  t=$SECONDS
  docker import -c 'CMD ["bash"]' - "$runtime" <"$rt_tar" >/dev/null || return 1
  # As rust:1-bookworm: cargo's home under /usr/local/cargo, its bin directory first on PATH.
  docker import -c 'ENV CARGO_HOME=/usr/local/cargo' \
    -c 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["bash"]' - "$builder" <"$bd_tar" >/dev/null || return 1
  rm -f "$dir/runtime.tar" "$bd_tar"
  echo "imported $runtime ($(docker image inspect --format '{{.Size}}' "$runtime") bytes) and $builder ($(docker image inspect --format '{{.Size}}' "$builder") bytes): $((SECONDS - t)) s"
  echo "bases made in $((SECONDS - start)) s"
}
