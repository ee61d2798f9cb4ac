#!/usr/bin/env bash
# kcat (librdkafka) against $BOOTSTRAP: produce keyed lines (with a header,
# acks=all, once uncompressed and once lz4) to $TOPIC, check `kcat -L` shows the
# broker and the topic, consume from the beginning to the end and compare
# exactly; then consume as a balanced consumer group (-G, offsets committed on
# exit) and check that the group's next run reads only records produced since.
# With PARTITIONS=3 (the topic's auto-created partition count; default 1) the
# three batches go to partitions 0, 2 and 1 (-p). With CLUSTER_BROKERS=N
# (driver.sh, CLUSTER=1) -L must list N brokers and the partitions must be led
# by different ones (placement spreads each topic evenly), each partition with
# REPLICATION_FACTOR replicas (default 1). With CLUSTER_KILL set (a shell command
# that kills a partition's leader and returns once others lead) a record goes to
# every partition, CLUSTER_KILL runs, another record goes to every partition, and
# the consumers must read them all.
set -euo pipefail
: "${BOOTSTRAP:?}" "${TOPIC:?}"
host=${BOOTSTRAP%:*}
port=${BOOTSTRAP##*:}
to=20 # seconds per kcat call
X=(-X socket.timeout.ms=10000)
fmt='%p %o %k=%s|%h\n'
parts=${PARTITIONS:-1}

fail() { echo "kcat check FAILED: $*" >&2; exit 1; }

# expect WHAT WANT GOT: fails printing both when they differ.
expect() {
	if [ "$3" != "$2" ]; then
		echo "expected:"; echo "$2"
		echo "got:"; echo "$3"
		fail "$1: consumed records differ"
	fi
}

# lines_to_records PARTITION FIRST_OFFSET LINES: the consume format for
# "key:value" lines produced to PARTITION from FIRST_OFFSET on.
lines_to_records() {
	local p=$1 off=$2 k v out=""
	while IFS=: read -r k v; do
		out+="$p $off $k=$v|src=kcat"$'\n'
		off=$((off + 1))
	done <<<"$3"
	printf '%s' "${out%$'\n'}"
}

declare -A next=() # partition -> the offset its next record gets
produced=""        # every record produced, in the consume format

# produce PARTITION LINES [kcat args...]: sends the "key:value" LINES to
# PARTITION with acks=all, adds them to produced and sets sent to them.
produce() {
	local p=$1 lines=$2
	shift 2
	printf '%s\n' "$lines" | timeout $to kcat -b "$BOOTSTRAP" "${X[@]}" -P -t "$TOPIC" -p "$p" -K: \
		-H src=kcat -X acks=all "$@" || fail "produce $* exited $?"
	sent=$(lines_to_records "$p" "${next[$p]:-0}" "$lines")
	produced+=$sent$'\n'
	next[$p]=$((${next[$p]:-0} + $(wc -l <<<"$lines")))
}

# consume ARGS...: the records kcat prints, ordered by partition and offset
# (kcat interleaves partitions).
consume() {
	local out
	out=$(timeout $to kcat "$@") || fail "kcat $* exited $?"
	printf '%s\n' "$out" | sort -s -k1,1n -k2,2n
}

plain=$'k1:v1\nk2:value two\nk3:v3:with:colons\nk1:v4'
lz4=$'k4:compressed five\nk5:v6'
later=$'k6:after the commit\nk7:v8'

# The lz4 batch to the last partition, the later one to the second (with one
# partition: both to partition 0, after the ones before).
lz4_part=$((parts - 1)) later_part=$((1 % parts))
echo "kcat: producing 4 uncompressed records to partition 0 and 2 lz4 ones to partition $lz4_part of $TOPIC (acks=all)"
produce 0 "$plain"
produce $lz4_part "$lz4" -z lz4

echo "kcat: -L (metadata)"
meta=$(timeout $to kcat -b "$BOOTSTRAP" "${X[@]}" -L -J -t "$TOPIC") || fail "kcat -L exited $?"
/usr/bin/python3 - "$meta" "$host" "$port" "$TOPIC" "$parts" "${REPLICATION_FACTOR:-1}" <<'PY' || fail "kcat -L output: $meta"
import json, os, sys
meta, host, port, topic, parts, rf = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
brokers = meta.get("brokers", [])
want = "%s:%d" % (host, port)
got = [b.get("name") for b in brokers]
if want not in got:
    sys.exit("expected broker %s in -L, got %s" % (want, got))
topics = {t["topic"]: t for t in meta.get("topics", [])}
t = topics.get(topic)
if t is None:
    sys.exit("expected topic %s in -L, got %s" % (topic, list(topics)))
if "error" in t or len(t.get("partitions", [])) != parts:
    sys.exit("expected topic %s with %d partitions and no error, got %s" % (topic, parts, t))
ids = [b.get("id") for b in brokers]
leaders = [p.get("leader") for p in t["partitions"] if "error" not in p]
if any(len(p.get("replicas", [])) != rf for p in t["partitions"]):
    sys.exit("expected %d replicas of each partition, got %s" % (rf, t["partitions"]))
if "CLUSTER_BROKERS" in os.environ:  # a cluster: every broker listed, the partitions led by different ones
    n = int(os.environ["CLUSTER_BROKERS"])
    if len(ids) != n or len(leaders) != parts or not set(leaders) <= set(ids) or len(set(leaders)) != min(n, parts):
        sys.exit("expected %d brokers and the partitions led by different ones, got brokers %s and %s" % (n, ids, t["partitions"]))
elif leaders != [ids[0]] * parts:
    sys.exit("expected the partitions led by broker %s, got %s" % (ids[0], t["partitions"]))
print("kcat -L: broker %s, topic %s with %d partitions led by brokers %s: ok" % (want, topic, parts, leaders))
PY

if [ -n "${CLUSTER_KILL:-}" ]; then
	for ((p = 0; p < parts; p++)); do
		[ -n "${next[$p]:-}" ] || produce $p "k8:before the kill"
	done
	echo "kcat: every partition holds records; killing a partition's leader"
	bash -c "$CLUSTER_KILL" || fail "CLUSTER_KILL exited $?"
	for ((p = 0; p < parts; p++)); do
		produce $p "k9:after the kill"
	done
	echo "kcat: produced a record to each partition after the kill (acks=all)"
fi

echo "kcat: consuming from the beginning"
want=$(printf '%s' "$produced" | sort -s -k1,1n -k2,2n)
n=$(wc -l <<<"$want")
got=$(consume -b "$BOOTSTRAP" "${X[@]}" -C -t "$TOPIC" -o beginning -e -q -f "$fmt")
expect "consume -o beginning" "$want" "$got"
echo "kcat: consumed $n records, all match"

echo "kcat: balanced consumer group (-G)"
G=(-b "$BOOTSTRAP" "${X[@]}" -X auto.offset.reset=earliest -e -q -f "$fmt" -G "ci-group-$TOPIC" "$TOPIC")
got=$(consume "${G[@]}")
expect "kcat -G (first run)" "$want" "$got"
produce $later_part "$later"
got=$(consume "${G[@]}")
expect "kcat -G (after its offsets were committed)" "$sent" "$got"
echo "kcat: group read all $n records, then only the 2 produced after its commit"
