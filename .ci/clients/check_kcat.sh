#!/usr/bin/env bash
# kcat (librdkafka) against $BOOTSTRAP: produce keyed lines (with a header,
# acks=all, once uncompressed and once lz4) to $TOPIC, check `kcat -L` shows the
# broker and the topic, consume from the beginning to the end, compare exactly.
set -euo pipefail
: "${BOOTSTRAP:?}" "${TOPIC:?}"
host=${BOOTSTRAP%:*}
port=${BOOTSTRAP##*:}
to=20 # seconds per kcat call
X=(-X socket.timeout.ms=10000)

fail() { echo "kcat check FAILED: $*" >&2; exit 1; }

plain=$'k1:v1\nk2:value two\nk3:v3:with:colons\nk1:v4'
lz4=$'k4:compressed five\nk5:v6'

echo "kcat: producing 4 uncompressed + 2 lz4 records to $TOPIC (acks=all)"
printf '%s\n' "$plain" | timeout $to kcat -b "$BOOTSTRAP" "${X[@]}" -P -t "$TOPIC" -K: \
	-H src=kcat -X acks=all || fail "produce (uncompressed) exited $?"
printf '%s\n' "$lz4" | timeout $to kcat -b "$BOOTSTRAP" "${X[@]}" -P -t "$TOPIC" -K: \
	-H src=kcat -X acks=all -z lz4 || fail "produce (lz4) exited $?"

echo "kcat: -L (metadata)"
meta=$(timeout $to kcat -b "$BOOTSTRAP" "${X[@]}" -L -J -t "$TOPIC") || fail "kcat -L exited $?"
/usr/bin/python3 - "$meta" "$host" "$port" "$TOPIC" <<'PY' || fail "kcat -L output: $meta"
import json, sys
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
if "error" in p or p.get("leader") != brokers[0].get("id"):
    sys.exit("expected partition 0 led by broker %s, got %s" % (brokers[0].get("id"), p))
print("kcat -L: broker %s, topic %s with 1 partition: ok" % (want, topic))
PY

echo "kcat: consuming from the beginning"
got=$(timeout $to kcat -b "$BOOTSTRAP" "${X[@]}" -C -t "$TOPIC" -o beginning -e -q \
	-f '%p %o %k=%s|%h\n') || fail "consume exited $?"
want=""
off=0
while IFS=: read -r k v; do
	want+="0 $off $k=$v|src=kcat"$'\n'
	off=$((off + 1))
done <<<"$plain"$'\n'"$lz4"
want=${want%$'\n'}
if [ "$got" != "$want" ]; then
	echo "expected:"; echo "$want"
	echo "got:"; echo "$got"
	fail "consumed records differ"
fi
echo "kcat: consumed $off records, all match"
