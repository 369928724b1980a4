#!/usr/bin/env bash
# bench-upload.sh compares the operator's validate+upload with curl sending the
# same file to the same simulator, as the speed target of docs/benchmarks.md asks:
#
#   - builds cmd/localytics-sim and hack/uploadbench (validate+upload with the
#     real client, one pass: file -> importfile.NewReader -> UploadProfiles);
#   - generates a profile JSON Lines file of SIZE_MB in a temporary directory;
#   - starts ONE simulator on loopback, with budgets that cannot interfere;
#   - alternates RUNS times: curl -F file=@FILE, then uploadbench (the
#     operator's upload: validate + send), then uploadbench --digest (the same
#     and sha256, which the operator does when it validates, before);
#   - prints the MB/s of every run, the median of each and their ratio.
#
# Environment:
#   RUNS=5       runs of each (after one untimed warm-up of each)
#   SIZE_MB=300  size of the generated file, in MB (10^6 bytes)
#   SINK=discard the simulator drops upload bodies after counting them
#                (--discard-uploads), so that it is faster than both clients;
#                SINK=spool keeps its normal receive path (spooled to disk),
#                which is slower than curl on these machines.
#
# Times are wall-clock around each command (process start included, a few ms),
# the same for both; MB/s are 10^6 bytes of the file per second.
set -euo pipefail

RUNS=${RUNS:-5}
SIZE_MB=${SIZE_MB:-300}
SINK=${SINK:-discard}
KEY=bench
SECRET=bench-secret

cd "$(dirname "$0")/.."

if ! command -v curl >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "curl is missing: installing it with apt-get" >&2
		apt-get update -qq && apt-get install -y -qq curl >/dev/null
	else
		echo "curl is missing: install it (Debian: sudo apt-get update && sudo apt-get install -y curl) and run again" >&2
		exit 1
	fi
fi
case $SINK in
discard) sink_flag=--discard-uploads ;;
spool) sink_flag= ;;
*)
	echo "SINK must be discard or spool, not $SINK" >&2
	exit 1
	;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-upload.XXXXXX")
sim_pid=
cleanup() {
	if [ -n "$sim_pid" ]; then
		kill "$sim_pid" 2>/dev/null || true
		wait "$sim_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

echo "building the simulator and uploadbench"
go build -o "$work/localytics-sim" ./cmd/localytics-sim
go build -o "$work/uploadbench" ./hack/uploadbench

file=$work/profiles.json
"$work/uploadbench" --generate "$SIZE_MB" "$file"
bytes=$(stat -c %s "$file")
lines=$(wc -l <"$file")
echo "file: $bytes bytes, $lines lines (profile JSON Lines)"

# One simulator for both clients. The upload budget must never answer 429,
# jobs must not start parsing hundreds of MB in the background (--pending),
# and the size cap must let the file through.
# shellcheck disable=SC2086 # sink_flag is one flag or none
"$work/localytics-sim" --addr 127.0.0.1:0 --account "$KEY:$SECRET:org=60" \
	--profile-uploads 1000000 --max-upload-bytes $((bytes * 2)) \
	--pending 24h --spool-dir "$work" $sink_flag \
	>"$work/sim.out" 2>"$work/sim.log" &
sim_pid=$!
url=
for _ in $(seq 100); do
	url=$(sed -n 's/^localytics-sim listening on //p' "$work/sim.out")
	[ -n "$url" ] && break
	sleep 0.1
done
if [ -z "$url" ]; then
	echo "the simulator did not start:" >&2
	cat "$work/sim.log" >&2
	exit 1
fi
echo "simulator: $url (sink: $SINK)"

now() { date +%s%N; }

# mbps BYTES START_NS END_NS
mbps() { awk -v b="$1" -v s="$2" -v e="$3" 'BEGIN { printf "%.1f", b / ((e - s) / 1e9) / 1e6 }'; }

# reset drops the previous upload's job (and its spooled file) between runs,
# outside the timed part.
reset() { curl -s -o /dev/null -X POST "$url/_sim/reset"; }

run_curl() {
	local code
	code=$(curl -s -o "$work/curl.reply" -w '%{http_code}' -u "$KEY:$SECRET" \
		-F org_id=60 -F format=json -F "file=@$file" "$url/v1/imports/profiles/upload")
	if [ "$code" != 202 ]; then
		echo "curl: HTTP $code: $(cat "$work/curl.reply")" >&2
		exit 1
	fi
}

# run_operator [--digest]: the operator's upload (validate + send; with
# --digest, hash as well, as a tool uploading a file it has not seen would).
run_operator() {
	"$work/uploadbench" --url "$url" --key "$KEY" --secret "$SECRET" --org 60 "$@" "$file" >"$work/uploadbench.out"
}

# median reads numbers, one a line.
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "machine: $(nproc) cores, $(uptime | sed 's/^ *//')"
echo "warm-up (untimed)"
run_curl
reset
run_operator
reset
run_operator --digest
reset

: >"$work/curl.mbps"
: >"$work/operator.mbps"
: >"$work/digest.mbps"
for i in $(seq "$RUNS"); do
	s=$(now)
	run_curl
	e=$(now)
	c=$(mbps "$bytes" "$s" "$e")
	echo "$c" >>"$work/curl.mbps"
	reset

	s=$(now)
	run_operator
	e=$(now)
	o=$(mbps "$bytes" "$s" "$e")
	echo "$o" >>"$work/operator.mbps"
	reset

	s=$(now)
	run_operator --digest
	e=$(now)
	d=$(mbps "$bytes" "$s" "$e")
	echo "$d" >>"$work/digest.mbps"
	reset

	printf 'run %d: curl %8s MB/s   operator (validate+upload) %8s MB/s   (+ sha256) %8s MB/s\n' "$i" "$c" "$o" "$d"
done

curl_median=$(median <"$work/curl.mbps")
operator_median=$(median <"$work/operator.mbps")
digest_median=$(median <"$work/digest.mbps")
ratio=$(awk -v c="$curl_median" -v o="$operator_median" 'BEGIN { printf "%.2f", c / o }')
echo "median: curl $curl_median MB/s, operator $operator_median MB/s (with sha256 $digest_median MB/s); curl is ${ratio}x the operator's rate"
awk -v o="$operator_median" -v r="$ratio" 'BEGIN {
	printf "target >= 500 MB/s: %s; target within 2x of curl: %s\n",
		(o >= 500 ? "met" : "NOT met"), (r <= 2 ? "met" : "NOT met")
}'
echo "machine after: $(uptime | sed 's/^ *//')"
