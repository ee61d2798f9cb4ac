"""confluent-kafka-python (librdkafka) against $BOOTSTRAP: create $TOPIC with 3
partitions, produce keyed records with headers (acks=all, every delivery report
must succeed), consume from the beginning by assign() (no group offsets used),
then as a consumer group: read all, commit synchronously, and check that a new
member of the group gets only records produced after the commit. Compares key,
value, headers and per-partition order; exits non-zero, printing expected vs got.
With CLUSTER_BROKERS=N (driver.sh, CLUSTER=1) Metadata must list N brokers and
the partitions must be led by different ones. The topic has REPLICATION_FACTOR
replicas (default 1) and, when set, MIN_INSYNC_REPLICAS; with CLUSTER_KILL set (a
shell command that kills a partition's leader and returns once others lead) it is
run after the first records are acked, and records produced after it are checked
with the rest."""
import os
import subprocess
import sys
import time

import confluent_kafka
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BOOTSTRAP = os.environ["BOOTSTRAP"]
TOPIC = os.environ["TOPIC"]
GROUP = "ci-group-" + TOPIC
PARTITIONS = 3
N = 30
REPLICATION_FACTOR = int(os.environ.get("REPLICATION_FACTOR", "1"))
TOPIC_CONFIGS = {"min.insync.replicas": os.environ["MIN_INSYNC_REPLICAS"]} if "MIN_INSYNC_REPLICAS" in os.environ else {}
COMMON = {"bootstrap.servers": BOOTSTRAP, "socket.timeout.ms": 10000}


def fail(msg, want=None, got=None):
    print("confluent-kafka check FAILED: " + msg, file=sys.stderr)
    if want is not None:
        print("expected: %r" % (want,), file=sys.stderr)
        print("got:      %r" % (got,), file=sys.stderr)
    sys.exit(1)


def compare(what, want, got):
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
    fail(what + ": consumed records differ from produced")


def produce(first, n):
    """Sends records first..first+n-1 with acks=all; returns partition -> [(offset, key, value, headers)]."""
    producer = Producer(dict(COMMON, **{"acks": "all", "linger.ms": 5, "message.timeout.ms": 20000}))
    acked = {p: [] for p in range(PARTITIONS)}
    errors = []

    def on_delivery(headers):
        # Delivery reports do not carry the headers back, so remember the ones sent.
        def report(err, msg):
            if err is not None:
                errors.append((msg.key(), str(err)))
            else:
                acked[msg.partition()].append((msg.offset(), msg.key(), msg.value(), headers))
        return report

    for i in range(first, first + n):
        headers = [("i", str(i).encode()), ("src", b"confluent-kafka")]
        producer.produce(TOPIC, key=b"key-%d" % (i % 7), value=b"value-%d-" % i + b"y" * i,
                         headers=headers, on_delivery=on_delivery(headers))
        producer.poll(0)
    left = producer.flush(30)
    if left or errors or sum(len(r) for r in acked.values()) != n:
        fail("deliveries: %d still queued, %d failed" % (left, len(errors)), [], errors)
    for recs in acked.values():
        recs.sort()
    return acked


def extend(want, acked):
    """Appends acked records to want, checking that each partition's offsets go on from its end."""
    for p, recs in acked.items():
        offsets = [r[0] for r in recs]
        start = len(want.get(p, []))
        if offsets != list(range(start, start + len(recs))):
            fail("acked offsets of partition %d do not follow on from %d" % (p, start),
                 list(range(start, start + len(recs))), offsets)
        want.setdefault(p, []).extend(recs)


def consume(consumer, n):
    """Polls until n records arrived (then 1 s more, to catch extras) or 30 s passed."""
    got = {p: [] for p in range(PARTITIONS)}
    deadline = time.time() + 30
    quiet_until = None
    while time.time() < deadline and (quiet_until is None or time.time() < quiet_until):
        m = consumer.poll(0.2)
        if m is None:
            continue
        if m.error():
            # A broker going down or coming back shows as a transient error; the
            # records must arrive all the same.
            if m.error().fatal() or not (m.error().retriable() or m.error().code() == KafkaError._TRANSPORT):
                fail("consumer error: %s" % m.error())
            print("confluent-kafka: consumer error, going on: %s" % m.error())
            continue
        got[m.partition()].append((m.offset(), m.key(), m.value(), m.headers()))
        if quiet_until is None and sum(len(r) for r in got.values()) >= n:
            quiet_until = time.time() + 1
    return got


def group_consumer():
    c = Consumer(dict(COMMON, **{"group.id": GROUP, "enable.auto.commit": False,
                                 "auto.offset.reset": "earliest", "session.timeout.ms": 10000}))
    c.subscribe([TOPIC])
    return c


print("confluent-kafka %s, librdkafka %s" % (confluent_kafka.version()[0], confluent_kafka.libversion()[0]))
admin = AdminClient(COMMON)
for topic, fut in admin.create_topics([NewTopic(TOPIC, PARTITIONS, REPLICATION_FACTOR, config=TOPIC_CONFIGS)],
                                      operation_timeout=15,
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
replicas = {p: t.partitions[p].replicas for p in t.partitions}
if any(len(set(r)) != REPLICATION_FACTOR for r in replicas.values()):
    fail("partition replicas", "%d each" % REPLICATION_FACTOR, replicas)
if "CLUSTER_BROKERS" in os.environ:  # a cluster: the partitions led by different brokers
    leaders = {p: t.partitions[p].leader for p in t.partitions}
    if len(md.brokers) != int(os.environ["CLUSTER_BROKERS"]) or \
            len(set(leaders.values())) != min(PARTITIONS, len(md.brokers)):
        fail("brokers and partition leaders", "%s brokers, each leading a partition" % os.environ["CLUSTER_BROKERS"],
             (sorted(md.brokers), leaders))
    print("confluent-kafka: partitions led by brokers %s" % leaders)

want = {}
extend(want, produce(0, N))
print("confluent-kafka: produced %d records, acks=all, all delivered; per partition %s"
      % (N, {p: len(r) for p, r in want.items()}))
if "CLUSTER_KILL" in os.environ:  # a broker dies; the records it led must survive
    if any(not r for r in want.values()):
        fail("records on every partition before the kill", "all %d" % PARTITIONS, {p: len(r) for p, r in want.items()})
    subprocess.run(os.environ["CLUSTER_KILL"], shell=True, check=True)
    extend(want, produce(N, N))
    print("confluent-kafka: after the kill, produced %d more records, acks=all, all delivered; per partition %s"
          % (N, {p: len(r) for p, r in want.items()}))
produced = sum(len(r) for r in want.values())

# group.id is required by librdkafka; assign() with OFFSET_BEGINNING uses no group offsets.
consumer = Consumer(dict(COMMON, **{"group.id": "ci-unused-" + TOPIC, "enable.auto.commit": False,
                                    "enable.auto.offset.store": False}))
consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
compare("assign", want, consume(consumer, produced))
consumer.close()
print("confluent-kafka: assigned consumer read %d records, all match (key, value, headers, order)" % produced)

# Consumer group: read everything, commit synchronously, leave.
consumer = group_consumer()
compare("group", want, consume(consumer, produced))
consumer.commit(asynchronous=False)
tps = consumer.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=15)
committed = {tp.partition: tp.offset for tp in tps}
want_committed = {p: len(r) for p, r in want.items()}
if committed != want_committed:
    fail("committed offsets after commit()", want_committed, committed)
consumer.close()
print("confluent-kafka: group %s read %d records, all match; committed %s" % (GROUP, produced, committed))

# A new member of the group starts at the committed offsets: only the new records.
more = produce(produced, 6)
consumer = group_consumer()
compare("group after commit", more, consume(consumer, 6))
consumer.close()
print("confluent-kafka: group resumed at the committed offsets, read only the 6 new records")

groups = [g.id for g in admin.list_groups(timeout=15)]
if GROUP not in groups:
    fail("list_groups", GROUP, groups)
print("confluent-kafka: list_groups shows %s" % GROUP)
