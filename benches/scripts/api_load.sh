#!/usr/bin/env bash
# HTTP API load benchmark (issue 6, "Tests and performance"), on loopback:
#  1. a store of 10 M generated entries over 7 days (`query_compare --keep`, or a copy of an
#     existing one given as STORE, so the original is never written to);
#  2. `faultline serve --no-demo` on it;
#  3. `GET /api/entries` with the dashboard's seed query (1000 rows as JSON, newest first as
#     the dashboard asks, then oldest first) at 50 concurrent clients with wrk: requests/s,
#     p50, p90, p99 latency;
#  4. 200 concurrent `GET /api/live` SSE subscribers while a generated capture is uploaded and
#     ingested (`live_load`): delivered entries/s, entries dropped for slow clients, latency of
#     the first entry and lag of the last one.
#
# Usage: benches/scripts/api_load.sh
# Needs: wrk (`apt-get install -y wrk`), release builds of faultline and the benches
#   (`cargo build --release -p faultline -p faultline-benches`).
# Environment: STORE (an existing store to copy; default: generate one with query_compare),
#   ROWS (default 10000000), DURATION (wrk seconds, default 30), CLIENTS (default 50),
#   SUBSCRIBERS (default 200), PACKETS (capture for the live test, default 2000000),
#   PORT (default 18899), WORK (scratch directory, default a temporary one, removed at the end).
set -euo pipefail

TARGET=${CARGO_TARGET_DIR:-target}/release
BIN=${FAULTLINE_BIN:-$TARGET/faultline}
QC=${QUERY_COMPARE_BIN:-$TARGET/query_compare}
LIVE=${LIVE_LOAD_BIN:-$TARGET/live_load}
ROWS=${ROWS:-10000000}
DURATION=${DURATION:-30}
CLIENTS=${CLIENTS:-50}
SUBSCRIBERS=${SUBSCRIBERS:-200}
PACKETS=${PACKETS:-2000000}
PORT=${PORT:-18899}
SEED_Q='response.status%20%3E%20400%20or%20error%20or%20icmp%20or%20tcp'
BASE="http://127.0.0.1:$PORT"

for b in "$BIN" "$LIVE"; do
    [ -x "$b" ] || { echo "no binary at $b: cargo build --release -p faultline -p faultline-benches" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "needs wrk (apt-get install -y wrk)" >&2; exit 2; }

OWN_WORK=
if [ -z "${WORK:-}" ]; then
    WORK=$(mktemp -d)
    OWN_WORK=1
fi
SERVE_PID=
cleanup() {
    if [ -n "$SERVE_PID" ]; then
        kill -TERM "$SERVE_PID" 2>/dev/null || true
        wait "$SERVE_PID" 2>/dev/null || true
    fi
    [ -n "$OWN_WORK" ] && rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

DATA=$WORK/store
if [ -n "${STORE:-}" ]; then
    echo "== copying $STORE to $DATA"
    cp -a "$STORE" "$DATA"
else
    [ -x "$QC" ] || { echo "no binary at $QC" >&2; exit 2; }
    echo "== generating $ROWS entries over 7 days into $DATA (query_compare --keep)"
    "$QC" --rows "$ROWS" --days 7 --data "$DATA" --keep --runs 1 --no-plain >"$WORK/query_compare.log" 2>&1 ||
        { tail -20 "$WORK/query_compare.log" >&2; exit 1; }
fi

echo "== faultline serve on $BASE"
"$BIN" serve --no-demo --data "$DATA" --listen "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 1 600); do
    curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; exit 1; }
    sleep 0.1
done
curl -fsS "$BASE/healthz" >/dev/null
STORED=$(curl -fsS --json '{"sql": "SELECT count(*) AS n FROM entries"}' "$BASE/api/sql" |
    sed -n 's/.*"n":"\{0,1\}\([0-9]*\).*/\1/p')
echo "stored entries: $STORED"

# Newest first is what the dashboard asks for; oldest first is the API's default.
for ORDER in desc asc; do
    URL="$BASE/api/entries?q=$SEED_Q&limit=1000&order=$ORDER&format=json"
    ROWS_BACK=$(curl -fsS "$URL" | sed -n 's/.*"row_count":\([0-9]*\).*/\1/p')
    echo "== wrk: $CLIENTS clients, ${DURATION}s, GET /api/entries?q=<seed query>&limit=1000&order=$ORDER ($ROWS_BACK rows each)"
    wrk -t2 -c"$CLIENTS" -d"${DURATION}s" --timeout 60s --latency "$URL" | tee "$WORK/wrk-$ORDER.txt"
done

echo "== live: $SUBSCRIBERS SSE subscribers while a $PACKETS-packet capture is ingested"
"$BIN" generate --out "$WORK/live.pcap" --packets "$PACKETS" --seed 5 2>&1 | tail -1
"$LIVE" --url "$BASE" --subscribers "$SUBSCRIBERS" --capture "$WORK/live.pcap"

echo "== server metrics"
curl -fsS "$BASE/metrics" | grep -E '^faultline_(live|ingest_packets_total|entries_total)' || true
