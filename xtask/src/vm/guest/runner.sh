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
# `retries` (how many times a failing test is rerun, 0 for none),
# `env` (KEY=VALUE lines), `bin/` (the workspace's
# binaries: MATRIX_BIN_DIR) and the executables (under `t/`). Given the
# archive as its argument, the runner unpacks each test executable from it
# just before running it and removes it afterwards.
#
# Per-test limit: the executable runs one test at a time (--test-threads=1)
# and libtest prints a line when each test starts and ends, so when no such
# line has come for `limit` seconds (by `date +%s`) and the last one is a
# start, that test has hung. The runner kills the executable, appends a
# `vhu-hung` line for the test (xtask's `libtest::HUNG_EVENT`) and runs it
# again with `--exact --skip` for every test that already ended, so the
# others report. Under a limit, tests run with --nocapture and stderr goes
# into the same file, so a killed test's output is kept; before framing,
# each test's own lines are cut to their last 40, and dropped for a test
# that passed (the `keep` filter).
#
# Retries: each test that failed is run alone again (`--exact`), up to
# `retries` times or until it passes, under the same limit; one
# `vhu-rerun` line per test (xtask's `libtest::RERUN_EVENT`) says how many
# reruns there were and how many passed.

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
retries=$(cat "$dir/retries" 2>/dev/null || echo 0)
# Fractions of a second where `sleep` takes them (busybox, the BSDs).
if sleep 0.01 2>/dev/null; then tick=0.2; else tick=1; fi

# Runs the current executable once more with "$@" after its arguments,
# appending to the file `o`; sets `status`, and `hung` to the name of a test
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
        (exe "$@") < /dev/null >> "$o" 2>> "$out/$n.err"
        status=$?
        return
    fi
    (
        (exe "$@") < /dev/null >> "$o" 2>&1 &
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
        # libtest's events, not the tests' own output (which may go on in a hung test).
        events=$(grep -c "$event" "$o")
        if [ "$events" != "$last" ]; then
            last=$events
            since=$now
        fi
        if [ $((now - since)) -ge "$limit" ] && [ -e "$out/pid" ]; then
            line=$(grep "$event" "$o" | tail -n 1)
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
        # On a line of its own, after whatever the killed test left unterminated.
        printf '\n{ "type": "test", "event": "vhu-hung", "name": "%s", "limit_secs": %s }\n' "$hung" "$limit" >> "$o"
    fi
}

# The name in a libtest event line.
name_of() {
    sed 's/.*"name": "\([^"]*\)".*/\1/'
}

# Reads an executable's output and writes it back with each test's own
# lines cut to their last 40 (of 500 bytes at most), and none for a test
# that passed or was ignored: the events, and the tail of what a failing,
# killed or crashed test printed, go back over the console.
keep() {
    awk -v ev="$event" '
    function flush(    i) { for (i = 0; i < held; i++) print buf[(start + i) % 40]; held = 0; start = 0 }
    function hold(line) { buf[(start + held) % 40] = substr(line, 1, 500); if (held < 40) held++; else start = (start + 1) % 40 }
    {
        at = index($0, ev)
        if (at == 0) { hold($0); next }
        if (at > 1) hold(substr($0, 1, at - 1))
        line = substr($0, at)
        if (line ~ /"event": "(ok|ignored|started)"/) { held = 0; start = 0 } else { flush() }
        print line
    }
    END { flush() }'
}
# How every libtest event line begins (a test's unterminated output may come first).
event='{ "type": "'
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
    o="$out/$n.out"
    # The executable's stdin is /dev/null: it must not read the manifest.
    run_exe
    while [ -n "$hung" ]; do
        # Again, without the tests that ended (or hung) already.
        set --
        for t in $(grep -e '"event": "ok"' -e '"event": "failed"' -e '"event": "ignored"' \
            -e '"event": "vhu-hung"' "$out/$n.out" | name_of); do
            set -- "$@" --skip "$t"
        done
        run_exe --exact "$@"
    done
    echo "$status" > "$out/$n.status"
    if [ "$retries" -gt 0 ]; then
        for t in $(grep -e '"event": "failed"' "$out/$n.out" | name_of); do
            runs=0
            passes=0
            while [ "$runs" -lt "$retries" ] && [ "$passes" -eq 0 ]; do
                runs=$((runs + 1))
                o="$out/$n.rerun"
                : > "$o"
                run_exe --exact "$t"
                if grep -e '"event": "ok"' "$o" | name_of | grep -qxF -e "$t"; then
                    passes=1
                fi
            done
            echo "{ \"type\": \"test\", \"event\": \"vhu-rerun\", \"name\": \"$t\", \"runs\": $runs, \"passes\": $passes }" >> "$out/$n.out"
        done
        rm -f "$out/$n.rerun"
    fi
    if [ "$limit" -gt 0 ]; then
        keep < "$out/$n.out" > "$out/$n.kept" && mv "$out/$n.kept" "$out/$n.out"
    fi
    if [ -n "$archive" ]; then
        rm -f "$dir/$path"
    fi
    frame "$n.out" "$out/$n.out"
    frame "$n.err" "$out/$n.err"
    frame "$n.status" "$out/$n.status"
done < "$dir/manifest"
echo "@@VHU-DONE $n@@"
