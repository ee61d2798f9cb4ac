"""kafka-python against $BOOTSTRAP: create $TOPIC with 3 partitions, produce
keyed records with headers (acks=all), consume everything from the earliest
offset by explicit assignment (no consumer group), and compare key, value,
headers and per-partition order. Exits non-zero, printing expected vs got."""
import os
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

BOOTSTRAP = os.environ["BOOTSTRAP"]
TOPIC = os.environ["TOPIC"]
PARTITIONS = 3
N = 30


def fail(msg, want=None, got=None):
    print("kafka-python check FAILED: " + msg, file=sys.stderr)
    if want is not None:
        print("expected: %r" % (want,), file=sys.stderr)
        print("got:      %r" % (got,), file=sys.stderr)
    sys.exit(1)


def compare(want, got):
    """Fails naming, per partition, the record count and the first record that differs."""
    if got == want:
        return
    for p in sorted(want):
        w, g = want[p], got.get(p, [])
        if w != g:
            i = next((i for i, (a, b) in enumerate(zip(w, g)) if a != b), min(len(w), len(g)))
            print("partition %d: expected %d records, got %d; first difference at index %d:"
                  % (p, len(w), len(g), i), file=sys.stderr)
            print("  expected: %r" % (w[i] if i < len(w) else "<none>",), file=sys.stderr)
            print("  got:      %r" % (g[i] if i < len(g) else "<none>",), file=sys.stderr)
    fail("consumed records differ from produced")


admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=15000)
print("kafka-python %s: broker api_version %s" % (__import__("kafka").__version__,
      admin.config["api_version"]))
resp = admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)], timeout_ms=15000)
errs = [(t, e) for t, e, *_ in resp.topic_errors if e != 0]
if errs:
    fail("create_topics returned errors", [], errs)
described = admin.describe_topics([TOPIC])
parts = sorted(p["partition"] for p in described[0]["partitions"])
if described[0]["error_code"] != 0 or parts != list(range(PARTITIONS)):
    fail("describe_topics after create", list(range(PARTITIONS)), described)
admin.close()
print("kafka-python: created %s with %d partitions" % (TOPIC, PARTITIONS))

producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", linger_ms=5,
                         request_timeout_ms=15000, max_block_ms=15000)
want = {p: [] for p in range(PARTITIONS)}  # partition -> [(offset, key, value, headers)]
futures = []
for i in range(N):
    key = b"key-%d" % (i % 7)
    value = b"value-%d-" % i + b"x" * i
    headers = [("i", str(i).encode()), ("src", b"kafka-python")]
    futures.append((key, value, headers, producer.send(TOPIC, key=key, value=value, headers=headers)))
producer.flush(timeout=20)
for key, value, headers, fut in futures:
    md = fut.get(timeout=20)  # raises on a failed send
    want[md.partition].append((md.offset, key, value, headers))
producer.close(timeout=10)
for p, recs in want.items():
    offsets = [r[0] for r in recs]
    if offsets != list(range(len(recs))):
        fail("acked offsets of partition %d are not 0..n-1 in send order" % p,
             list(range(len(recs))), offsets)
print("kafka-python: produced %d records, acks=all; per partition %s"
      % (N, {p: len(r) for p, r in want.items()}))

consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=None, enable_auto_commit=False,
                         auto_offset_reset="earliest", consumer_timeout_ms=2000,
                         request_timeout_ms=15000)
tps = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
consumer.assign(tps)
consumer.seek_to_beginning(*tps)
got = {p: [] for p in range(PARTITIONS)}
deadline = time.time() + 30
while sum(len(r) for r in got.values()) < N and time.time() < deadline:
    for m in consumer:  # stops after consumer_timeout_ms without records
        got[m.partition].append((m.offset, m.key, m.value, list(m.headers)))
consumer.close()
compare(want, got)
print("kafka-python: consumed %d records, all match (key, value, headers, order)" % N)
