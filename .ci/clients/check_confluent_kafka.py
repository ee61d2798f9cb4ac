"""confluent-kafka-python (librdkafka) against $BOOTSTRAP: create $TOPIC with 3
partitions, produce keyed records with headers (acks=all, every delivery report
must succeed), consume from the beginning by assign() (group.id is set because
librdkafka requires it, but no group offsets are used), compare key, value,
headers and per-partition order. Exits non-zero, printing expected vs got."""
import os
import sys
import time

import confluent_kafka
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BOOTSTRAP = os.environ["BOOTSTRAP"]
TOPIC = os.environ["TOPIC"]
PARTITIONS = 3
N = 30


def fail(msg, want=None, got=None):
    print("confluent-kafka check FAILED: " + msg, file=sys.stderr)
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


print("confluent-kafka %s, librdkafka %s" % (confluent_kafka.version()[0], confluent_kafka.libversion()[0]))
common = {"bootstrap.servers": BOOTSTRAP, "socket.timeout.ms": 10000}

admin = AdminClient(common)
for topic, fut in admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)], operation_timeout=15,
                                      request_timeout=15).items():
    try:
        fut.result(timeout=20)
    except Exception as e:  # KafkaException carrying the broker's error
        fail("create_topics(%s): %s" % (topic, e))
md = admin.list_topics(topic=TOPIC, timeout=15)
t = md.topics.get(TOPIC)
if t is None or t.error is not None or sorted(t.partitions) != list(range(PARTITIONS)):
    fail("metadata after create_topics", "%d partitions, no error" % PARTITIONS,
         t and (t.error, sorted(t.partitions)))
print("confluent-kafka: created %s with %d partitions" % (TOPIC, PARTITIONS))

producer = Producer(dict(common, **{"acks": "all", "linger.ms": 5, "message.timeout.ms": 20000}))
want = {p: [] for p in range(PARTITIONS)}  # partition -> [(offset, key, value, headers)]
errors = []


def on_delivery(headers):
    # Delivery reports do not carry the headers back, so remember the ones sent.
    def report(err, msg):
        if err is not None:
            errors.append((msg.key(), str(err)))
        else:
            want[msg.partition()].append((msg.offset(), msg.key(), msg.value(), headers))
    return report


for i in range(N):
    key = b"key-%d" % (i % 7)
    headers = [("i", str(i).encode()), ("src", b"confluent-kafka")]
    producer.produce(TOPIC, key=key, value=b"value-%d-" % i + b"y" * i, headers=headers,
                     on_delivery=on_delivery(headers))
    producer.poll(0)
left = producer.flush(30)
if left or errors or sum(len(r) for r in want.values()) != N:
    fail("deliveries: %d still queued, %d failed" % (left, len(errors)), [], errors)
for p in want:
    want[p].sort()  # delivery reports of one partition arrive in order; sort anyway to check offsets
    offsets = [r[0] for r in want[p]]
    if offsets != list(range(len(offsets))):
        fail("acked offsets of partition %d are not 0..n-1" % p, list(range(len(offsets))), offsets)
print("confluent-kafka: produced %d records, acks=all, all delivered; per partition %s"
      % (N, {p: len(r) for p, r in want.items()}))

consumer = Consumer(dict(common, **{"group.id": "ci-unused-" + TOPIC, "enable.auto.commit": False,
                                    "enable.auto.offset.store": False}))
consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
got = {p: [] for p in range(PARTITIONS)}
deadline = time.time() + 30
while sum(len(r) for r in got.values()) < N and time.time() < deadline:
    m = consumer.poll(1.0)
    if m is None:
        continue
    if m.error():
        fail("consumer error: %s" % m.error())
    got[m.partition()].append((m.offset(), m.key(), m.value(), m.headers()))
consumer.close()
compare(want, got)
print("confluent-kafka: consumed %d records, all match (key, value, headers, order)" % N)
