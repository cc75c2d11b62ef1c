#!/bin/sh
# The guest runner, in POSIX sh for every guest (busybox on Linux, the base
# system's sh on FreeBSD, NetBSD and OpenBSD). It runs the payload's test
# executables, one after the other, and prints what each wrote, framed and
# checksummed, on its standard output: the guest's serial console. The host
# reads it back with xtask's `vm::frame`; the two change together.
#
#   @@VHU-START <executables>@@
#   @@VHU-RUN <n> <package> <name>@@          before executable n starts
#   @@VHU-BEGIN <file> <bytes> <sha256>@@     then `uuencode -m` of the file
#   @@VHU-END <file>@@
#   @@VHU-DONE <executables run>@@
#
# The payload directory holds this script, `manifest` (one line per test
# executable: package, name, path), `args` (the arguments every test
# executable gets), `limit` (seconds one test may run, 0 for no limit),
# `env` (KEY=VALUE lines), `bin/` (the workspace's
# binaries: MATRIX_BIN_DIR) and the executables (under `t/`). Given the
# archive as its argument, the runner unpacks each test executable from it
# just before running it and removes it afterwards.
#
# Per-test limit: the executable runs one test at a time (--test-threads=1)
# and libtest prints a line when each test starts and ends, so when the
# output has not grown for `limit` seconds (by `date +%s`) and its last line is a start, that
# test has hung. The runner kills the executable, appends a `vhu-hung` line
# for the test (xtask's `libtest::HUNG_EVENT`) and runs it again with
# `--exact --skip` for every test that already ended, so the others report.

dir=$(cd "$(dirname "$0")" && pwd) || exit 1
archive=${1:-}
out="$dir/out"
mkdir -p "$out" || exit 1

# The first SHA-256 tool this system has: busybox/GNU, FreeBSD/OpenBSD, NetBSD.
digest() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum < "$1" | cut -d ' ' -f 1
    elif command -v sha256 >/dev/null 2>&1; then
        sha256 -q "$1"
    else
        cksum -a sha256 "$1" | sed 's/.*= //'
    fi
}

frame() {
    size=$(wc -c < "$2" | tr -d ' ')
    echo "@@VHU-BEGIN $1 $size $(digest "$2")@@"
    uuencode -m "$1" < "$2"
    echo "@@VHU-END $1@@"
}

args=$(cat "$dir/args")
limit=$(cat "$dir/limit" 2>/dev/null || echo 0)
# Fractions of a second where `sleep` takes them (busybox, the BSDs).
if sleep 0.01 2>/dev/null; then tick=0.2; else tick=1; fi

# Runs the current executable once more with "$@" after its arguments,
# appending to its output; sets `status`, and `hung` to the name of a test
# killed at the limit (empty when none was).
exe() {
    cd "$dir/work/$package" || exit 125
    while IFS= read -r kv; do export "$kv"; done < "$dir/env"
    export MATRIX_BIN_DIR="$dir/bin"
    # shellcheck disable=SC2086 # the arguments are words without spaces
    exec "$dir/$path" $args "$@"
}

run_exe() {
    rm -f "$out/rc" "$out/pid"
    hung=
    if [ "$limit" -le 0 ]; then
        (exe "$@") < /dev/null >> "$out/$n.out" 2>> "$out/$n.err"
        status=$?
        return
    fi
    (
        (exe "$@") < /dev/null >> "$out/$n.out" 2>> "$out/$n.err" &
        echo "$!" > "$out/pid"
        wait "$!"
        echo "$?" > "$out/rc"
    ) &
    watcher=$!
    last=-1
    since=$(date +%s)
    while [ ! -e "$out/rc" ]; do
        sleep "$tick"
        # Seconds by the clock: under emulation a tick takes far longer than its sleep.
        now=$(date +%s)
        size=$(wc -c < "$out/$n.out" | tr -d ' ')
        if [ "$size" != "$last" ]; then
            last=$size
            since=$now
        fi
        if [ $((now - since)) -ge "$limit" ] && [ -e "$out/pid" ]; then
            line=$(tail -n 1 "$out/$n.out")
            case "$line" in
            *'"event": "started"'*)
                hung=$(echo "$line" | sed 's/.*"name": "\([^"]*\)".*/\1/')
                kill -9 "$(cat "$out/pid")" 2> /dev/null
                ;;
            esac
            since=$now
        fi
    done
    wait "$watcher"
    status=$(cat "$out/rc")
    if [ -n "$hung" ]; then
        echo "{ \"type\": \"test\", \"event\": \"vhu-hung\", \"name\": \"$hung\", \"limit_secs\": $limit }" >> "$out/$n.out"
    fi
}
total=$(grep -c . "$dir/manifest")
echo "@@VHU-START $total@@"
uname -a > "$out/info" 2>&1
frame info "$out/info"
n=0
while read -r package name path; do
    n=$((n + 1))
    mkdir -p "$dir/work/$package"
    if [ -n "$archive" ] && [ ! -e "$dir/$path" ]; then
        (cd "$dir" && tar -xf "$archive" "$path")
    fi
    echo "@@VHU-RUN $n $package $name@@"
    : > "$out/$n.out"
    : > "$out/$n.err"
    # The executable's stdin is /dev/null: it must not read the manifest.
    run_exe
    while [ -n "$hung" ]; do
        # Again, without the tests that ended (or hung) already.
        set --
        for t in $(grep -e '"event": "ok"' -e '"event": "failed"' -e '"event": "ignored"' \
            -e '"event": "vhu-hung"' "$out/$n.out" | sed 's/.*"name": "\([^"]*\)".*/\1/'); do
            set -- "$@" --skip "$t"
        done
        run_exe --exact "$@"
    done
    echo "$status" > "$out/$n.status"
    if [ -n "$archive" ]; then
        rm -f "$dir/$path"
    fi
    frame "$n.out" "$out/$n.out"
    frame "$n.err" "$out/$n.err"
    frame "$n.status" "$out/$n.status"
done < "$dir/manifest"
echo "@@VHU-DONE $n@@"
