#!/usr/bin/env bash
# Live capture rate benchmark (issue 7, Performance): replays a capture made by
# `faultline generate` into a veth pair with tcpreplay at increasing packet rates, once per
# capture backend, and reports per rate: the rate tcpreplay reached, frames sent and
# captured, the kernel's and the interface's drop counts as `faultline capture` reports them,
# and the capture process's CPU use (from /proc/<pid>/stat). Then, per backend, the highest
# rate with zero kernel drops and the CPU use at 100 k packets/s.
#
# Traffic stays inside two network namespaces the script creates (and deletes on exit):
# the replay side `flbt<pid>` and the capture side `flbc<pid>`, joined by one veth pair.
#
# Needs root, iproute2 and tcpreplay. Usage:
#   benches/scripts/live_rate.sh [rates...]        (default: 10000 25000 50000 100000 ...)
# Environment: FAULTLINE_BIN (default $CARGO_TARGET_DIR/release/faultline, build it with
# `cargo build --release -p faultline`), SECONDS_PER_RATE (default 5), BACKENDS (default
# "pcap pnet"), BUFFER_MIB (default 32, the capture's default).
set -euo pipefail

BIN=${FAULTLINE_BIN:-${CARGO_TARGET_DIR:-target}/release/faultline}
SECS=${SECONDS_PER_RATE:-5}
BACKENDS=${BACKENDS:-pcap pnet}
BUFFER_MIB=${BUFFER_MIB:-32}
RATES=("$@")
if [ ${#RATES[@]} -eq 0 ]; then
    RATES=(10000 25000 50000 75000 100000 150000 200000 300000 400000 600000)
fi

[ "$(id -u)" -eq 0 ] || { echo "needs root (network namespaces)" >&2; exit 2; }
[ -x "$BIN" ] || { echo "no faultline binary at $BIN" >&2; exit 2; }
command -v tcpreplay >/dev/null || { echo "needs tcpreplay" >&2; exit 2; }

TX_NS=flbt$$
CAP_NS=flbc$$
TX_IF=flbt$$
CAP_IF=flbc$$
WORK=$(mktemp -d)
CAP_PID=
cleanup() {
    [ -n "$CAP_PID" ] && kill -KILL "$CAP_PID" 2>/dev/null || true
    ip netns del "$TX_NS" 2>/dev/null || true
    ip netns del "$CAP_NS" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

ip netns add "$TX_NS"
ip netns add "$CAP_NS"
ip link add "$TX_IF" netns "$TX_NS" type veth peer name "$CAP_IF" netns "$CAP_NS"
# No IPv6 on the pair: its neighbour discovery would add frames tcpreplay did not send.
for ns in "$TX_NS" "$CAP_NS"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
done
ip -n "$TX_NS" link set "$TX_IF" up
ip -n "$CAP_NS" link set "$CAP_IF" up

# 200 k packets of generated traffic (every kind of error, realistic sizes); looped as needed.
"$BIN" generate --out "$WORK/gen.pcap" --packets 200000 --seed 7 >/dev/null 2>&1
# tcpreplay refuses frames larger than the MTU: allow the biggest generated ones.
ip -n "$TX_NS" link set "$TX_IF" mtu 9000
ip -n "$CAP_NS" link set "$CAP_IF" mtu 9000

HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# One run: prints "rate_target rate_reached sent captured kernel_drops if_drops cpu_percent".
run_one() {
    local backend=$1 rate=$2
    local data="$WORK/data-$backend-$rate" log="$WORK/cap-$backend-$rate.log"
    local count=$((rate * SECS))
    ip netns exec "$CAP_NS" "$BIN" capture --interface "$CAP_IF" --backend "$backend" \
        --buffer-mib "$BUFFER_MIB" --stats-interval 1 --data "$data" 2>"$log" &
    CAP_PID=$!
    for _ in $(seq 100); do grep -q "^capturing on" "$log" && break; sleep 0.1; done
    grep -q "^capturing on" "$log" || { cat "$log" >&2; exit 1; }
    local t0 c0 t1 c1 out
    t0=$(date +%s.%N)
    c0=$(cpu_ticks "$CAP_PID")
    out=$(ip netns exec "$TX_NS" tcpreplay -i "$TX_IF" --pps="$rate" --limit="$count" \
        --loop=0 "$WORK/gen.pcap" 2>&1)
    c1=$(cpu_ticks "$CAP_PID")
    t1=$(date +%s.%N)
    sleep 0.5
    kill -TERM "$CAP_PID"
    wait "$CAP_PID" || { echo "capture failed:" >&2; cat "$log" >&2; exit 1; }
    CAP_PID=
    local reached sent captured kernel ifdrops cpu
    reached=$(sed -n 's/.*Rated: [0-9.]* Bps, [0-9.]* Mbps, \([0-9.]*\) pps.*/\1/p' <<<"$out" | head -1)
    sent=$(sed -n 's/.*Successful packets: *\([0-9]*\).*/\1/p' <<<"$out" | head -1)
    captured=$(sed -n 's/^captured \([0-9]*\) frames.*/\1/p' "$log")
    kernel=$(sed -n 's/.*dropped: \([0-9]*\) by the kernel.*/\1/p' "$log")
    ifdrops=$(sed -n 's/.*, \([0-9]*\) by the interfaces.*/\1/p' "$log")
    cpu=$(awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$HZ" \
        'BEGIN { printf "%.0f", 100 * (c1 - c0) / hz / (t1 - t0) }')
    echo "$rate ${reached:-?} ${sent:-?} ${captured:-?} ${kernel:-?} ${ifdrops:-?} $cpu"
}

echo "faultline live capture rate: $(nproc) CPUs, ${SECS} s per rate, ${BUFFER_MIB} MiB buffer"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for backend in $BACKENDS; do
    echo
    echo "backend $backend"
    printf '%10s %12s %9s %9s %8s %8s %6s\n' target_pps reached_pps sent captured k_drops if_drops cpu%
    best=0
    cpu100=
    for rate in "${RATES[@]}"; do
        read -r target reached sent captured kernel ifdrops cpu < <(run_one "$backend" "$rate")
        printf '%10s %12s %9s %9s %8s %8s %6s\n' "$target" "$reached" "$sent" "$captured" \
            "$kernel" "$ifdrops" "$cpu"
        [ "$target" = 100000 ] && cpu100=$cpu
        if [ "$kernel" != 0 ]; then
            # What the capture-drop entries say caused the drops.
            "$BIN" query 'error.msg == "capture-drop"' --format csv \
                --data "$WORK/data-$backend-$rate" 2>/dev/null |
                grep -o 'kernel: [^"]*' | sed 's/,,.*//; s/^/    /'
        fi
        if [ "$kernel" = 0 ]; then best="$target (reached $reached)"; else break; fi
    done
    echo "$backend: highest rate with zero kernel drops: $best pps;" \
        "CPU at 100 k pps: ${cpu100:-?}% of one CPU"
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
