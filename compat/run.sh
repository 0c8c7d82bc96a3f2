#!/usr/bin/env bash
# Real-client compatibility suite: drives the Debian `notary` 0.7 CLI and the Docker 28 CLI
# against a running trust server over TLS and checks every answer the clients depend on.
#
#   COMPAT_TARGET=notarium       (default) the server under test, from $NOTARIUM_BIN
#                                (default: target/debug/notarium at the repository root)
#   COMPAT_TARGET=notary-server  the Go reference server, to prove the suite itself right
#   COMPAT_FLOWS="notary docker" run only these flows (default: every file in flows/, in order;
#                                the admission and image flows run with COMPAT_TARGET=notarium
#                                only)
#   COMPAT_POSTGRES_URL=URL      a PostgreSQL to create databases in, for the replicas flow
#   COMPAT_MYSQL_URL=URL         a MySQL/MariaDB (mysql://USER[:PASS]@HOST:PORT/DB) for the import flow
#                                (without them those flows say so and do not run; under CI=true
#                                that is a failed step)
#   COMPAT_DATABASE_URL=URL      run notarium on this database (e.g. postgres://…; default: SQLite
#                                in the temporary directory)
#   COMPAT_KEEP=1                keep the temporary directory (trust dirs, server log)
#   COMPAT_REPORT=FILE           append one tab-separated line per step to FILE (compat/report.py)
#
# Output: one `ok N - …` / `not ok N - …` line per step, then `N passed, N failed`.
# Exit status is non-zero when any step failed. Everything is written to one mktemp directory.
set -euo pipefail

COMPAT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(dirname "$COMPAT_DIR")
TARGET=${COMPAT_TARGET:-notarium}
STEP_TIMEOUT=${COMPAT_STEP_TIMEOUT:-60}
FLOWS=${COMPAT_FLOWS:-notary delegations docker daemon sign serve auth replicas import mirror verify admission image}
START_TIME=$(date +%s)
export LC_ALL=C PYTHONUTF8=1

case "$TARGET" in
  notarium | notary-server) ;;
  *) echo "COMPAT_TARGET must be 'notarium' or 'notary-server', not '$TARGET'" >&2; exit 2 ;;
esac
for flow in $FLOWS; do
  [ -f "$COMPAT_DIR/flows/$flow.sh" ] || { echo "no flow named '$flow' in $COMPAT_DIR/flows" >&2; exit 2; }
done

# shellcheck source=lib/common.sh
. "$COMPAT_DIR/lib/common.sh"

FLOW_SECONDS=""
for flow in $FLOWS; do
  flow_start=$(date +%s)
  echo "# ---- flow: $flow ($((flow_start - START_TIME)) s)"
  CURRENT_FLOW=$flow
  # shellcheck source=/dev/null
  . "$COMPAT_DIR/flows/$flow.sh"
  FLOW_SECONDS="$FLOW_SECONDS $flow $(($(date +%s) - flow_start)),"
done

echo "# seconds per flow:${FLOW_SECONDS%,}"
echo "# $TARGET, $(($(date +%s) - START_TIME)) s"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
