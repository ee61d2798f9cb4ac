#!/usr/bin/env bash
# kcat (librdkafka) against $BOOTSTRAP: produce keyed lines (with a header,
# acks=all, once uncompressed and once lz4) to $TOPIC, check `kcat -L` shows the
# broker and the topic, consume from the beginning to the end and compare
# exactly; then consume as a balanced consumer group (-G, offsets committed on
# exit) and check that the group's next run reads only records produced since.
# With CLUSTER_BROKERS=N (driver.sh, CLUSTER=1) -L must list N brokers.
set -euo pipefail
: "${BOOTSTRAP:?}" "${TOPIC:?}"
host=${BOOTSTRAP%:*}
port=${BOOTSTRAP##*:}
to=20 # seconds per kcat call
X=(-X socket.timeout.ms=10000)
fmt='%p %o %k=%s|%h\n'

fail() { echo "kcat check FAILED: $*" >&2; exit 1; }

# expect WHAT WANT GOT: fails printing both when they differ.
expect() {
	if [ "$3" != "$2" ]; then
		echo "expected:"; echo "$2"
		echo "got:"; echo "$3"
		fail "$1: consumed records differ"
	fi
}

# lines_to_records FIRST_OFFSET LINES: the consume format for "key:value" lines
# produced to partition 0 from FIRST_OFFSET on.
lines_to_records() {
	local off=$1 k v out=""
	while IFS=: read -r k v; do
		out+="0 $off $k=$v|src=kcat"$'\n'
		off=$((off + 1))
	done <<<"$2"
	printf '%s' "${out%$'\n'}"
}

produce() { # produce LINES [kcat args...]
	local lines=$1
	shift
	printf '%s\n' "$lines" | timeout $to kcat -b "$BOOTSTRAP" "${X[@]}" -P -t "$TOPIC" -K: \
		-H src=kcat -X acks=all "$@" || fail "produce $* exited $?"
}

plain=$'k1:v1\nk2:value two\nk3:v3:with:colons\nk1:v4'
lz4=$'k4:compressed five\nk5:v6'
later=$'k6:after the commit\nk7:v8'

echo "kcat: producing 4 uncompressed + 2 lz4 records to $TOPIC (acks=all)"
produce "$plain"
produce "$lz4" -z lz4

echo "kcat: -L (metadata)"
meta=$(timeout $to kcat -b "$BOOTSTRAP" "${X[@]}" -L -J -t "$TOPIC") || fail "kcat -L exited $?"
/usr/bin/python3 - "$meta" "$host" "$port" "$TOPIC" <<'PY' || fail "kcat -L output: $meta"
import json, os, sys
meta, host, port, topic = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
brokers = meta.get("brokers", [])
want = "%s:%d" % (host, port)
got = [b.get("name") for b in brokers]
if want not in got:
    sys.exit("expected broker %s in -L, got %s" % (want, got))
topics = {t["topic"]: t for t in meta.get("topics", [])}
t = topics.get(topic)
if t is None:
    sys.exit("expected topic %s in -L, got %s" % (topic, list(topics)))
if "error" in t or len(t.get("partitions", [])) != 1:
    sys.exit("expected topic %s with 1 partition and no error, got %s" % (topic, t))
p = t["partitions"][0]
if "CLUSTER_BROKERS" in os.environ:  # a cluster: every broker listed, the partition led by one of them
    ids = [b.get("id") for b in brokers]
    if len(ids) != int(os.environ["CLUSTER_BROKERS"]) or "error" in p or p.get("leader") not in ids:
        sys.exit("expected %s brokers and partition 0 led by one of them, got brokers %s and %s" % (os.environ["CLUSTER_BROKERS"], ids, p))
elif "error" in p or p.get("leader") != brokers[0].get("id"):
    sys.exit("expected partition 0 led by broker %s, got %s" % (brokers[0].get("id"), p))
print("kcat -L: broker %s, topic %s with 1 partition: ok" % (want, topic))
PY

echo "kcat: consuming from the beginning"
want=$(lines_to_records 0 "$plain"$'\n'"$lz4")
got=$(timeout $to kcat -b "$BOOTSTRAP" "${X[@]}" -C -t "$TOPIC" -o beginning -e -q -f "$fmt") ||
	fail "consume exited $?"
expect "consume -o beginning" "$want" "$got"
echo "kcat: consumed 6 records, all match"

echo "kcat: balanced consumer group (-G)"
G=(-b "$BOOTSTRAP" "${X[@]}" -X auto.offset.reset=earliest -e -q -f "$fmt" -G "ci-group-$TOPIC" "$TOPIC")
got=$(timeout $to kcat "${G[@]}") || fail "kcat -G exited $?"
expect "kcat -G (first run)" "$want" "$got"
produce "$later"
got=$(timeout $to kcat "${G[@]}") || fail "kcat -G exited $?"
expect "kcat -G (after its offsets were committed)" "$(lines_to_records 6 "$later")" "$got"
echo "kcat: group read all 6 records, then only the 2 produced after its commit"
