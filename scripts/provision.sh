#!/usr/bin/env bash
# `make provision`: creates what Strata runs on, with the official CLIs, and
# prints what to put in wrangler.toml and which secrets to set. Safe to re-run:
# what already exists (by name) is reused, not created twice.
#
#   D1 database   wrangler d1 create NAME
#   R2 bucket     wrangler r2 bucket create NAME
#   Neon project  neonctl projects create --name NAME (npm neonctl, pinned)
#   (and prints how to make the read-only role: strata-dev read-role)
#
# Needs a Cloudflare account (`npx wrangler login`, or CLOUDFLARE_API_TOKEN and
# CLOUDFLARE_ACCOUNT_ID) and a Neon account (NEON_API_KEY, or `npx neonctl auth`).
# Settings: STRATA_NAME (default strata: the D1 database, R2 bucket and Neon
# project names), NEON_REGION (default aws-us-east-2), D1_LOCATION (optional
# location hint: weur, eeur, apac, oc, wnam, enam).
#
# Secrets are never printed: the commands it prints pipe them straight into
# `wrangler secret put`. Tools can be replaced for tests: WRANGLER, NEONCTL.
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=${STRATA_NAME:-strata}
NEON_REGION=${NEON_REGION:-aws-us-east-2}
WRANGLER=${WRANGLER:-node_modules/.bin/wrangler}
NEONCTL=${NEONCTL:-node_modules/.bin/neonctl}
export WRANGLER_SEND_METRICS=false

say() { printf '[provision] %s\n' "$*" >&2; }
die() { printf '[provision] error: %s\n' "$*" >&2; exit 1; }

# Reads JSON on stdin and prints the value of the JS expression $1 over it (`v`),
# or fails when it is empty.
json() {
  node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const v = JSON.parse(s);
      const out = new Function("v", "name", "return " + process.argv[1])(v, process.argv[2]);
      if (out === undefined || out === null || out === "") process.exit(1);
      process.stdout.write(String(out));
    });' "$1" "$NAME"
}

case "$NAME" in
  *[!a-z0-9-]* | "" | -*) die "STRATA_NAME must be lowercase letters, digits and dashes (R2 bucket rules), got '$NAME'" ;;
esac

say "checking the accounts"
"$WRANGLER" whoami > /dev/null 2>&1 ||
  die "wrangler is not logged in: run 'npx wrangler login', or set CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID"
"$NEONCTL" me --output json --no-analytics > /dev/null 2>&1 ||
  die "neonctl is not logged in: set NEON_API_KEY (Neon console → Account → API keys) or run 'npx neonctl auth'"

# 1. D1.
d1_id() { "$WRANGLER" d1 list --json | json '(v.find((d) => d.name === name) || {}).uuid'; }
if id=$(d1_id); then
  say "D1 database $NAME exists ($id)"
else
  say "creating the D1 database $NAME"
  args=(d1 create "$NAME")
  [ -z "${D1_LOCATION:-}" ] || args+=(--location "$D1_LOCATION")
  CI=true "$WRANGLER" "${args[@]}" >&2
  id=$(d1_id) || die "wrangler d1 create ran but $NAME is not in 'wrangler d1 list'"
fi
d1_database_id=$id

# 2. R2.
if "$WRANGLER" r2 bucket info "$NAME" > /dev/null 2>&1; then
  say "R2 bucket $NAME exists"
else
  say "creating the R2 bucket $NAME"
  CI=true "$WRANGLER" r2 bucket create "$NAME" >&2
fi

# 3. Neon. `projects list` has owned projects (an array, or under `projects`
# next to those shared with us).
neon_id() {
  "$NEONCTL" projects list --output json --no-analytics |
    json '((Array.isArray(v) ? v : v.projects || []).find((p) => p.name === name) || {}).id'
}
if id=$(neon_id); then
  say "Neon project $NAME exists ($id)"
else
  say "creating the Neon project $NAME in $NEON_REGION"
  # --no-secrets: the output then holds no connection string.
  id=$("$NEONCTL" projects create --name "$NAME" --region-id "$NEON_REGION" --no-secrets \
    --output json --no-analytics | json 'v.project.id') ||
    die "neonctl projects create did not report a project id"
fi
neon_project_id=$id

cat <<EOF

Provisioned:
  D1 database   $NAME   $d1_database_id
  R2 bucket     $NAME
  Neon project  $NAME   $neon_project_id

1. wrangler.toml — in [[d1_databases]] (binding "DB"), then commit it (the id is not a secret):
     database_name = "$NAME"
     database_id = "$d1_database_id"
   and in [[r2_buckets]] (binding "BUCKET"):
     bucket_name = "$NAME"

2. The Worker's secrets (wrangler secret put reads the value from stdin; nothing is echoed):
     npx neonctl connection-string --project-id $neon_project_id | npx wrangler secret put DATABASE_URL
     target/debug/strata-dev keygen --id admin --scopes admin > admin-key.txt   # line 1: the key, keep it safe
     sed -n 2p admin-key.txt | npx wrangler secret put API_KEYS                  # line 2: its API_KEYS entry
     node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("base64url"))' | npx wrangler secret put SIGNING_SECRET
   and the read-only connection (optional, recommended): read-only requests then log in as a
   role with only SELECT (strata_read, made or updated with a new password by strata-dev
   read-role as the project's owner), so Postgres itself refuses their writes:
     DATABASE_URL="\$(npx neonctl connection-string --project-id $neon_project_id)" target/debug/strata-dev read-role | npx wrangler secret put DATABASE_URL_READ
   (or a Neon read replica's connection string: Neon console → Branches → Add read replica)

3. The first release (migrations, then the Worker):
     DATABASE_URL="\$(npx neonctl connection-string --project-id $neon_project_id)" make deploy

4. GitHub repository → Settings → Secrets and variables → Actions:
     secrets    CLOUDFLARE_API_TOKEN   (API token: Workers Scripts, D1 and Workers R2 Storage: edit)
                CLOUDFLARE_ACCOUNT_ID
                DATABASE_URL           (the same Neon connection string: deploy.yml migrates with it)
                NEON_API_KEY           (preview.yml creates and deletes a branch per pull request)
     variable   NEON_PROJECT_ID = $neon_project_id
EOF
