# Sourced by the scripts that build a cached environment outside the clone (setup_vllm_cpu.sh,
# setup_lmms_eval.sh, setup_gpu_pins_venv.sh): the one way they lock, build, record and clean up.
#
# A cached environment is a folder <kind>-<key> under the cache root, <key> a hash of what decides
# its content, so every clone and CI rerun on one machine shares it and a changed pin builds a new
# one. Beside it: <folder>.lock (flock: one build at a time, and "in use" for pruning), <folder>.log
# (the build's output), <folder>.failed (the end of a failed build's log, which the tests print as
# their skip reason). A stamp file written last inside the folder marks a finished build.
#
# The caller defines `log` and its own `install` (run with errexit, output to the log), then calls
#   build_cached_env FOLDER STAMP NEED_GB PREFIX
# which prints nothing, returns 0 when FOLDER is ready (built now or before) and exits 1 after a
# failed build. NEED_GB is the free space a build needs (measured size plus pip's unpacking); PREFIX
# is the cache's name for the kind (<cache root>/<kind>-), for removing the folders of other keys.

# Free space, in whole GB, of the file system that holds $1 (or its nearest existing parent).
free_gb() {
    local dir=$1
    while [ ! -e "$dir" ]; do dir=$(dirname "$dir"); done
    df -Pk "$dir" | awk 'NR == 2 { print int($4 / 1048576) }'
}

# The problem, in one line, when the file system holding $2 has less than $1 GB free for $3 (nothing
# when it has enough): checked before anything is written, since pip's own "[Errno 28] No space left
# on device" comes minutes later, halfway through.
free_space_problem() {
    local need_gb=$1 dir=$2 what=$3 free
    free=$(free_gb "$dir")
    if [ "$free" -lt "$need_gb" ]; then
        echo "$what needs about $need_gb GB free in $dir, which has $free GB: free some space" \
            "(or set VIDEOSSR_CACHE_DIR to a disk with room) and re-run"
    fi
}

# Removes the other environments of the same kind ($2<other key>: the cache's own name with a hex key
# of the same length, built for other pins) whose lock nobody holds: a changed pin would otherwise
# leave the old 7-11 GB folder on the disk for good. Nothing happens when $1 is not itself named so
# (a folder the user chose, e.g. VIDEOSSR_VLLM_CPU_VENV): folders beside it are not ours. One being
# built is left alone; a clone with those other pins builds its own again when it next runs. The
# lock files (empty) stay: removing one could let two builds of a folder overlap.
prune_other_keys() {
    local folder=$1 prefix=$2 key other other_key
    key=${folder#"$prefix"}
    [ "$key" != "$folder" ] && [[ "$key" =~ ^[0-9a-f]+$ ]] || return 0
    for other in "$prefix"*; do
        other_key=${other#"$prefix"}
        [ -d "$other" ] && [ "$other" != "$folder" ] && [[ "$other_key" =~ ^[0-9a-f]+$ ]] &&
            [ ${#other_key} -eq ${#key} ] || continue
        (
            exec 8>"$other.lock"
            flock -n 8 || exit 0
            rm -rf "$other" "$other.log" "$other.failed"
            log "removed $other (built for other pins)"
        )
    done
}

build_cached_env() {
    local folder=$1 stamp=$2 need_gb=$3 prefix=$4 problem started status
    mkdir -p "$(dirname "$folder")"
    exec 9>"$folder.lock"
    flock 9  # one build at a time; a second caller waits, then finds it ready
    if [ -f "$stamp" ]; then
        return 0
    fi
    rm -rf "$folder"  # a killed build's half (no stamp) must not be built on
    problem=$(free_space_problem "$need_gb" "$(dirname "$folder")" "building $folder")
    if [ -n "$problem" ]; then
        log "$problem"
        echo "$problem" > "$folder.failed"
        exit 1
    fi
    started=$SECONDS
    # Not `if ! install`: bash ignores errexit inside a function run as a condition, so a failed
    # step would go unnoticed and the stamp be written anyway.
    set +e
    (set -e; install) > "$folder.log" 2>&1
    status=$?
    set -e
    if [ "$status" -ne 0 ]; then
        grep -v "^WARNING: Location" "$folder.log" | tail -n 20 > "$folder.failed"
        log "failed; the end of the log ($folder.log):"
        cat "$folder.failed" >&2
        exit 1
    fi
    date -u +%FT%TZ > "$stamp"
    rm -f "$folder.failed"
    # The log's last line: the install's own check of the environment (versions).
    log "ready in $((SECONDS - started)) s: $(du -sh "$folder" | cut -f1) in $folder ($(tail -n 1 "$folder.log"))"
    prune_other_keys "$folder" "$prefix"
}
