#!/usr/bin/env bash
# A Neon branch per pull request, with the official CLI (npm neonctl, pinned
# in package.json). Used by .github/workflows/preview.yml; runs the same from a
# laptop with a Neon account.
#
#   scripts/neon-branch.sh create NAME   (re)create NAME from the parent branch and
#                                        print its direct connection string on stdout
#   scripts/neon-branch.sh delete NAME   delete NAME if it exists
#
# Needs NEON_PROJECT_ID, and NEON_API_KEY (or a `neonctl auth` login).
# Optional: NEON_PARENT_BRANCH (default: the project's default branch),
# NEON_DATABASE and NEON_ROLE (when the project has more than one).
#
# `create` always starts from a fresh copy of the parent: a pull request's
# migrations are applied to production's schema and data as they are now, not
# on top of what an earlier push of the same pull request left behind.
# The connection string is the direct (unpooled) one, with sslmode=require:
# `strata-dev migrate` needs a session for its advisory lock. It is printed
# only to stdout, never logged here.
set -euo pipefail
cd "$(dirname "$0")/.."

NEONCTL=${NEONCTL:-node_modules/.bin/neonctl}

say() { printf '[neon-branch] %s\n' "$*" >&2; }
die() { printf '[neon-branch] error: %s\n' "$*" >&2; exit 1; }
usage() { die "usage: scripts/neon-branch.sh create|delete NAME"; }

[ $# -eq 2 ] || usage
action=$1
name=$2
[ -n "$name" ] || usage
[ -n "${NEON_PROJECT_ID:-}" ] || die "NEON_PROJECT_ID is not set (the Neon project's id, e.g. from scripts/provision.sh)"

neon() { "$NEONCTL" "$@" --project-id "$NEON_PROJECT_ID" --no-analytics; }

# Whether the project has a branch called $1 (a failed listing is an error).
branch_exists() {
  local list
  list=$(neon branches list --output json) || die "cannot list the branches of project $NEON_PROJECT_ID"
  printf '%s' "$list" | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const v = JSON.parse(s);
      const branches = Array.isArray(v) ? v : v.branches || [];
      process.exit(branches.some((b) => b.name === process.argv[1]) ? 0 : 1);
    });' "$1"
}

delete_branch() {
  say "deleting branch $1"
  # Its output describes the deleted branch; only the outcome matters here.
  neon branches delete "$1" --output json > /dev/null
}

case "$action" in
  create)
    if branch_exists "$name"; then
      delete_branch "$name"
    fi
    say "creating branch $name from ${NEON_PARENT_BRANCH:-the default branch}"
    args=(branches create --name "$name" --output json)
    [ -z "${NEON_PARENT_BRANCH:-}" ] || args+=(--parent "$NEON_PARENT_BRANCH")
    # The output holds credentials: discard it and ask for the one URL we need.
    neon "${args[@]}" > /dev/null
    cs=(connection-string "$name")
    [ -z "${NEON_DATABASE:-}" ] || cs+=(--database-name "$NEON_DATABASE")
    [ -z "${NEON_ROLE:-}" ] || cs+=(--role-name "$NEON_ROLE")
    url=$(neon "${cs[@]}")
    case "$url" in
      postgres://* | postgresql://*) printf '%s\n' "$url" ;;
      *) die "neonctl connection-string did not print a postgres:// URL" ;;
    esac
    ;;
  delete)
    if branch_exists "$name"; then
      delete_branch "$name"
    else
      say "no branch $name: nothing to delete"
    fi
    ;;
  *) usage ;;
esac
