#!/usr/bin/env bash
# The project's benchmarks in one command: end-to-end load runs (izport-load run) against a freshly
# started release server (connectivityTest ceiling, durable VXU, VXU/Z34 mix) on SQLite and, when a PostgreSQL URL
# is given, on PostgreSQL; then the criterion benches. Prints one Markdown table at the end.
#
#   scripts/bench.sh                      # SQLite load runs + criterion
#   IZPORT_BENCH_PG=postgres://postgres@127.0.0.1:5432/test scripts/bench.sh
#
# Settings (environment): BENCH_CLIENTS (32), BENCH_DURATION (10 s), BENCH_CRITERION (1; 0 skips),
# BENCH_PATIENTS (0; N seeds N patients per backend and adds Z34 and Z44 latency rows: 1000000 takes
# about five minutes per backend and 4-6 GB of disk), BENCH_FILE_MESSAGES (100000; 0 skips: a
# synthetic batch file of that many VXUs uploaded by OpenSSH sftp to the server's file door, timed
# from the start of the upload to the run's end, with the server's peak memory), BENCH_FLOOD (30; 0 skips:
# a wrong-password flood from BENCH_CLIENTS clients for that many seconds, izport-load's
# `--mix wrong-password`, with the server's resident memory before, at its peak and after;
# BENCH_ONLY=flood runs that alone; BENCH_ONLY=files runs only the file door), BENCH_PROFILE (release; debug measures the debug build, for
# development only). The PostgreSQL URL names a server on which the
# script may create and drop a scratch database (psql is used for that).
set -euo pipefail

cd "$(dirname "$0")/.."
CLIENTS=${BENCH_CLIENTS:-32}
DURATION=${BENCH_DURATION:-10}
CRITERION=${BENCH_CRITERION:-1}
PATIENTS=${BENCH_PATIENTS:-0}
PORT=${BENCH_PORT:-18080}
FILE_MESSAGES=${BENCH_FILE_MESSAGES:-100000}
FLOOD=${BENCH_FLOOD:-30}
ONLY=${BENCH_ONLY:-}
PROFILE=${BENCH_PROFILE:-release}
SFTP_PORT=$((PORT + 1))
PASSWORD=bench-password-1

case "$PROFILE" in
    release) cargo build --release --quiet -p izport -p izport-load ;;
    debug) cargo build --quiet -p izport -p izport-load ;;
    *) echo "BENCH_PROFILE must be release or debug, not $PROFILE" >&2; exit 2 ;;
esac
case "$ONLY" in
    ""|flood|files) ;;
    *) echo "BENCH_ONLY must be empty, flood or files, not $ONLY" >&2; exit 2 ;;
esac
BIN="${CARGO_TARGET_DIR:-target}/$PROFILE/izport"
LOAD_BIN="${CARGO_TARGET_DIR:-target}/$PROFILE/izport-load"
WORK=$(mktemp -d)
RESULTS="$WORK/results.tsv"
SERVER_PID=""
PG_DB=""

cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    if [ -n "$PG_DB" ]; then psql -q "$IZPORT_BENCH_PG" -c "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Runs a command with its output kept aside, shown only if it fails.
quiet() {
    local log="$WORK/command.log"
    if ! "$@" >"$log" 2>&1; then
        echo "failed: $*" >&2
        cat "$log" >&2
        return 1
    fi
}

# One load run; appends "backend<TAB>run<TAB>json" to the results.
load() {
    local backend=$1 run=$2; shift 2
    echo "== $backend: $run" >&2
    local json
    json=$(IZPORT_LOAD_PASSWORD=$PASSWORD "$LOAD_BIN" run --url "http://127.0.0.1:$PORT/soap" \
        --username loaduser --facility LFAC -c "$CLIENTS" --duration "$DURATION" --json "$@" | tail -n 1)
    printf '%s\t%s\t%s\n' "$backend" "$run" "$json" >>"$RESULTS"
}

# A kilobyte figure of the server's /proc status (VmRSS now, VmHWM the peak).
vm() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$SERVER_PID/status"; }

# A wrong-password flood: FLOOD seconds of guesses from CLIENTS clients (every one refused, most
# while the user and the address are locked out, each costing an argon2 verification), with the
# server's resident memory before, at its peak, just after and 5 s after.
bench_flood() {
    local backend=$1 url=$2
    echo "== $backend: a wrong-password flood, $CLIENTS clients for ${FLOOD}s" >&2
    "$BIN" --database-url "$url" serve --listen "127.0.0.1:$PORT" --sftp-listen off >"$WORK/server-flood-$backend.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
        sleep 0.1
    done
    local before json end later peak
    before=$(vm VmRSS)
    json=$("$LOAD_BIN" run --url "http://127.0.0.1:$PORT/soap" --username loaduser --facility LFAC \
        --mix wrong-password -c "$CLIENTS" --duration "$FLOOD" --json | tail -n 1)
    end=$(vm VmRSS)
    sleep 5
    later=$(vm VmRSS)
    peak=$(vm VmHWM)
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
    # The guesses locked the user and this address out; the load runs after need them.
    quiet "$BIN" --database-url "$url" user unlock loaduser --address 127.0.0.1
    python3 -c "import json, sys; r = json.loads(sys.argv[1]); print('%s\tflood\t%s' % (sys.argv[2], json.dumps({'requests': r['requests'], 'refused': r['outcomes'].get('ok', 0), 'seconds': r['elapsed_s'], 'before_kb': int(sys.argv[3]), 'peak_kb': int(sys.argv[4]), 'end_kb': int(sys.argv[5]), 'later_kb': int(sys.argv[6])})))" \
        "$json" "$backend" "$before" "$peak" "$end" "$later" >>"$RESULTS"
}

bench_backend() {
    local backend=$1 url=$2
    quiet "$BIN" --database-url "$url" migrate
    quiet "$BIN" --database-url "$url" org add LOAD --name "Load test" --facility LFAC --production
    echo "$PASSWORD" >"$WORK/password"
    quiet "$BIN" --database-url "$url" user add --org LOAD loaduser --password-stdin <"$WORK/password"
    if [ "$FLOOD" -gt 0 ] && [ "$ONLY" != files ]; then
        bench_flood "$backend" "$url"
    fi
    [ "$ONLY" = flood ] && return 0
    if [ "$ONLY" = files ]; then
        bench_files "$backend" "$url"
        return 0
    fi
    "$BIN" --database-url "$url" serve --listen "127.0.0.1:$PORT" --sftp-listen off >"$WORK/server-$backend.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
        sleep 0.1
    done
    load "$backend" connectivity --mix connectivity
    load "$backend" vxu --mix vxu
    load "$backend" "vxu=80,z34=20" --mix vxu=80,z34=20
    local rss
    rss=$(ps -o rss= -p "$SERVER_PID" | tr -d ' ')
    printf '%s\trss\t{"rss_kb":%s}\n' "$backend" "$rss" >>"$RESULTS"
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
    if [ "$FILE_MESSAGES" -gt 0 ]; then
        bench_files "$backend" "$url"
    fi
    if [ "$PATIENTS" -gt 0 ]; then
        echo "== $backend: seeding $PATIENTS patients" >&2
        local start end
        start=$(date +%s)
        quiet "$LOAD_BIN" seed --database-url "$url" --patients "$PATIENTS"
        end=$(date +%s)
        printf '%s\tseed\t{"patients":%s,"seconds":%s}\n' "$backend" "$PATIENTS" "$((end - start))" >>"$RESULTS"
        printf '%s\tz34\t%s\n' "$backend" \
            "$("$LOAD_BIN" bench-z34 --database-url "$url" --queries 2000 --json | tail -n 1)" >>"$RESULTS"
        printf '%s\tz44\t%s\n' "$backend" \
            "$("$LOAD_BIN" bench-z34 --database-url "$url" --queries 2000 --profile z44 --json | tail -n 1)" >>"$RESULTS"
    fi
}

# The file door: a batch file of FILE_MESSAGES VXUs through SFTP, upload start to the run's end.
bench_files() {
    local backend=$1 url=$2
    if [ ! -f "$WORK/key" ]; then
        ssh-keygen -q -t ed25519 -N '' -f "$WORK/key"
        mkdir -p "$WORK/file"
        "$LOAD_BIN" batch-file --messages "$FILE_MESSAGES" --import-code BENCHFILE --out "$WORK/file" \
            >"$WORK/file-name" 2>/dev/null
    fi
    local file size
    file=$(cat "$WORK/file-name")
    size=$(stat -c %s "$file")
    echo "== $backend: a batch file of $FILE_MESSAGES messages ($((size / 1000000)) MB) through SFTP" >&2
    echo "$PASSWORD-file" | quiet "$BIN" --database-url "$url" org exchange-account LOAD \
        --import-code BENCHFILE --password-stdin --add-key "$WORK/key.pub"
    "$BIN" --database-url "$url" serve --listen "127.0.0.1:$PORT" --sftp-listen "127.0.0.1:$SFTP_PORT" \
        --batch-quiet-seconds 0 --spool-dir "$WORK" >"$WORK/server-files-$backend.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
        sleep 0.1
    done
    local start end state
    start=$(date +%s.%N)
    echo "put $file /HL7-Dropoff/" >"$WORK/put.sftp"
    quiet sftp -b "$WORK/put.sftp" -i "$WORK/key" -P "$SFTP_PORT" -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes BENCHFILE@127.0.0.1
    # The end is the run's own finish time (the server's clock, the same machine's), so the
    # polling needs no precision: once a second, without a Python interpreter per poll (at five
    # polls a second it took a tenth of the two cores from the run it measured).
    while :; do
        state=$("$BIN" --database-url "$url" batch list --org LOAD --json |
            { grep -o '"state": "[a-z ]*"' || true; } | tail -1 | cut -d'"' -f4)
        [ "$state" = done ] && break
        if [ -n "$state" ] && [ "$state" != processing ]; then
            echo "the bench file ended $state" >&2; cat "$WORK/server-files-$backend.log" >&2; return 1
        fi
        sleep 1
    done
    end=$("$BIN" --database-url "$url" batch list --org LOAD --json |
        python3 -c 'import datetime, json, sys; r = json.load(sys.stdin)[-1]["finished_at"]; print(datetime.datetime.fromisoformat(r.replace("Z", "+00:00")).timestamp())')
    local peak
    peak=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
    python3 -c "import sys; n, s, t0, t1, peak = sys.argv[1:]; print('%s\tfiles\t{\"messages\":%s,\"bytes\":%s,\"seconds\":%.3f,\"peak_kb\":%s}' % ('$backend', n, s, float(t1) - float(t0), peak))" \
        "$FILE_MESSAGES" "$size" "$start" "$end" "$peak" >>"$RESULTS"
}

bench_backend sqlite "sqlite:$WORK/bench.db"
if [ -n "${IZPORT_BENCH_PG:-}" ]; then
    PG_DB="izport_bench_$$"
    psql -q "$IZPORT_BENCH_PG" -c "CREATE DATABASE $PG_DB" >/dev/null
    bench_backend postgres "${IZPORT_BENCH_PG%/*}/$PG_DB"
fi

if [ "$CRITERION" = 1 ] && [ -z "$ONLY" ]; then
    echo "== criterion" >&2
    cargo bench --quiet --bench hl7 --bench validate -- --quick 2>/dev/null |
        awk '/^[a-z_]+\/[a-z_0-9]+/ {name=$1} /time:/ {print name "\t" $0}' >"$WORK/criterion.txt"
fi

echo
echo "build: $PROFILE, clients: $CLIENTS, duration: ${DURATION}s, machine: $(nproc) cores, $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
python3 - "$RESULTS" "$WORK/criterion.txt" <<'EOF'
import json, sys, os
rows = {}
for line in open(sys.argv[1]):
    backend, run, data = line.rstrip("\n").split("\t", 2)
    rows.setdefault(run, {})[backend] = json.loads(data)
def cell(d):
    if d is None: return ""
    if "rss_kb" in d: return f"{d['rss_kb'] / 1024:.0f} MB RSS"
    if "later_kb" in d: return f"{d['requests']:,} guesses in {d['seconds']:.0f} s ({d['refused']:,} refused with a SecurityFault), server RSS {d['before_kb'] / 1024:.0f} MB before, peak {d['peak_kb'] / 1024:.0f} MB, {d['end_kb'] / 1024:.0f} MB at the end, {d['later_kb'] / 1024:.0f} MB 5 s later"
    if "peak_kb" in d: return f"{d['messages']:,} messages ({d['bytes'] / 1e6:.0f} MB) in {d['seconds']:.1f} s = {d['messages'] / d['seconds']:,.0f} msg/s, server peak {d['peak_kb'] / 1024:.0f} MB"
    if "p99_ms" in d: return f"{d['queries']:,} queries ({d['found']:,} found), p50 {d['p50_ms']:.2f} ms, p99 {d['p99_ms']:.2f} ms"
    if "seconds" in d: return f"{d['patients']:,} patients in {d['seconds']} s"
    lat = d.get("latency_ms", {})
    text = f"{d.get('throughput', 0):,.0f} req/s, p50 {lat.get('p50', 0):.2f} ms, p99 {lat.get('p99', 0):.2f} ms"
    if "outcomes" in d:
        text += f", {d['requests'] - d['outcomes'].get('ok', 0)} failed"
    return text
print("| run | SQLite | PostgreSQL |")
print("|---|---|---|")
for run, by in rows.items():
    print(f"| {run} | {cell(by.get('sqlite'))} | {cell(by.get('postgres'))} |")
for backend in ("sqlite", "postgres"):
    c = rows.get("connectivity", {}).get(backend); v = rows.get("vxu", {}).get(backend)
    if c and v and c.get("throughput"):
        ratio = v["throughput"] / c["throughput"]
        print(f"\n{backend}: VXU / connectivity throughput = {ratio:.3f} (target >= 0.5), VXU p99 {v['latency_ms']['p99']:.1f} ms (target < 50)")
crit = sys.argv[2]
if os.path.exists(crit):
    print("\ncriterion (--quick):")
    for line in open(crit):
        print("  " + line.strip())
EOF
