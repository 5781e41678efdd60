# Sourced by scripts/container-test and scripts/fresh-machine-test: sets BASE to a local Debian 12
# base image on a running Docker engine (../shared/tools/container-base.sh makes both, as root),
# or exits 0 saying why no engine can run here. ENLARGER_BASE_IMAGE with a running engine skips
# the tool.
# shellcheck shell=bash
container_base() {
    local tool="$ROOT/../shared/tools/container-base.sh"
    if [ -n "${ENLARGER_BASE_IMAGE:-}" ] && docker info >/dev/null 2>&1; then
        BASE=$ENLARGER_BASE_IMAGE
    elif [ -x "$tool" ] && [ "$(id -u)" = 0 ]; then
        # One at a time: CI runs the container test and the fresh-machine test side by side.
        # -o: the tool's children (the dockerd it starts) must not inherit the lock, or the
        # second caller waits for as long as the engine runs.
        BASE=$(flock -o /tmp/enlarger-container-base.lock "$tool" | tail -n 1) ||
            die "$tool could not provide a Docker engine and base image"
    elif [ ! -x "$tool" ]; then
        skip "no $tool to start a Docker engine and build a local Debian base (or set ENLARGER_BASE_IMAGE with a running engine)"
    else
        skip "not root: $tool cannot install or start a Docker engine"
    fi
    command -v curl >/dev/null || die "curl is needed on the host"
    command -v python3 >/dev/null || die "python3 is needed on the host"
}
