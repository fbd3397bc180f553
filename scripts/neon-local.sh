# Sourced by dev.sh, migrate.sh and deploy.sh: starting neon-local and
# reading its ready line. Not a script of its own.

# start_neon_local BIN READY LOG ARGS...: starts BIN (neon-local) with ARGS in
# the background, its ready line to READY and its log to LOG; sets neon_pid
# and waits up to 30 s for the ready line. On failure prints the log's tail
# and a reason to stderr and returns 1.
start_neon_local() {
  local bin=$1 ready=$2 log=$3
  shift 3
  : > "$ready"
  "$bin" "$@" > "$ready" 2> "$log" &
  neon_pid=$!
  for _ in $(seq 1 300); do
    [ -s "$ready" ] && return 0
    if ! kill -0 "$neon_pid" 2>/dev/null; then
      tail -n 20 "$log" >&2
      echo "neon-local failed to start" >&2
      return 1
    fi
    sleep 0.1
  done
  tail -n 20 "$log" >&2
  echo "neon-local did not start within 30 s" >&2
  return 1
}

# json_field FILE FIELD: a field of the one-line JSON object (neon-local's
# ready line) in FILE; empty when absent.
json_field() {
  node -e 'const v=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8").split("\n")[0]); process.stdout.write(String(v[process.argv[2]] ?? ""))' "$1" "$2"
}
