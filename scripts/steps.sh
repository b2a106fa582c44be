# Sourced by scripts/test and scripts/quickstart: one line per setup step with its time; the
# step's own output goes to a log file, named (with its last lines) only when the step fails.
STEP_LOG_DIR=${STEP_LOG_DIR:-${TRAINYARD_CACHE:-$HOME/.cache/trainyard}/logs}
mkdir -p "$STEP_LOG_DIR"

step() {
    local name=$1
    shift
    local log="$STEP_LOG_DIR/$(echo "$name" | tr -c 'a-zA-Z0-9\n' '-').$$.log"
    local start=$SECONDS
    printf '%-28s ' "$name"
    if "$@" >"$log" 2>&1; then
        printf 'ok      %4ds\n' "$((SECONDS - start))"
    else
        local rc=$?
        printf 'FAILED  %4ds  (exit %d; full output: %s)\n' "$((SECONDS - start))" "$rc" "$log"
        tail -n 30 "$log" | sed 's/^/    /'
        return "$rc"
    fi
}
