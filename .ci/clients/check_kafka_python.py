"""kafka-python against $BOOTSTRAP: create $TOPIC with 3 partitions, produce
keyed records with headers (acks=all), consume everything from the earliest
offset by explicit assignment (no group), then as a consumer group: read all,
commit, and check that a new member of the group gets only records produced
after the commit. Compares key, value, headers and per-partition order; exits
non-zero, printing expected vs got. With CLUSTER_BROKERS=N (driver.sh, CLUSTER=1)
the partitions must be led by different brokers. The topic has REPLICATION_FACTOR
replicas (default 1) and, when set, MIN_INSYNC_REPLICAS; with CLUSTER_KILL set (a
shell command that kills a partition's leader and returns once others lead) it is
run after the first records are acked, and records produced after it are checked
with the rest."""
import os
import subprocess
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaConnectionError

BOOTSTRAP = os.environ["BOOTSTRAP"]
TOPIC = os.environ["TOPIC"]
GROUP = "ci-group-" + TOPIC
PARTITIONS = 3
N = 30
REPLICATION_FACTOR = int(os.environ.get("REPLICATION_FACTOR", "1"))
TOPIC_CONFIGS = {"min.insync.replicas": os.environ["MIN_INSYNC_REPLICAS"]} if "MIN_INSYNC_REPLICAS" in os.environ else {}
TPS = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]


def fail(msg, want=None, got=None):
    print("kafka-python check FAILED: " + msg, file=sys.stderr)
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
    """Sends records first..first+n-1 with acks=all; returns partition -> [(offset, key, value, headers)].
    Retries (one request in flight, so in order) ride out a leader moving."""
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", linger_ms=5,
                             request_timeout_ms=15000, max_block_ms=15000,
                             retries=5, retry_backoff_ms=500, max_in_flight_requests_per_connection=1)
    sent = []
    for i in range(first, first + n):
        key = b"key-%d" % (i % 7)
        value = b"value-%d-" % i + b"x" * i
        headers = [("i", str(i).encode()), ("src", b"kafka-python")]
        sent.append((key, value, headers, producer.send(TOPIC, key=key, value=value, headers=headers)))
    producer.flush(timeout=20)
    acked = {p: [] for p in range(PARTITIONS)}
    for key, value, headers, fut in sent:
        md = fut.get(timeout=20)  # raises on a failed send
        acked[md.partition].append((md.offset, key, value, headers))
    producer.close(timeout=10)
    return acked


def extend(want, acked):
    """Appends acked records to want, checking that each partition's offsets go on from its end."""
    for p, recs in acked.items():
        offsets = [r[0] for r in recs]
        start = len(want.get(p, []))
        if offsets != list(range(start, start + len(recs))):
            fail("acked offsets of partition %d do not follow on from %d in send order" % (p, start),
                 list(range(start, start + len(recs))), offsets)
        want.setdefault(p, []).extend(recs)


def consume(consumer, n):
    """Reads until n records arrived or 30 s passed; returns them like produce()."""
    got = {p: [] for p in range(PARTITIONS)}
    deadline = time.time() + 30
    while sum(len(r) for r in got.values()) < n and time.time() < deadline:
        for m in consumer:  # stops after consumer_timeout_ms without records
            got[m.partition].append((m.offset, m.key, m.value, list(m.headers)))
    return got


def group_consumer():
    return KafkaConsumer(TOPIC, bootstrap_servers=BOOTSTRAP, group_id=GROUP,
                         enable_auto_commit=False, auto_offset_reset="earliest",
                         consumer_timeout_ms=2000, request_timeout_ms=15000,
                         session_timeout_ms=10000, heartbeat_interval_ms=1000)


admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=15000)
print("kafka-python %s: broker api_version %s" % (__import__("kafka").__version__,
      admin.config["api_version"]))
resp = admin.create_topics([NewTopic(TOPIC, PARTITIONS, REPLICATION_FACTOR, topic_configs=TOPIC_CONFIGS)],
                           timeout_ms=15000)
errs = [(t, e) for t, e, *_ in resp.topic_errors if e != 0]
if errs:
    fail("create_topics returned errors", [], errs)
described = admin.describe_topics([TOPIC])
parts = sorted(p["partition"] for p in described[0]["partitions"])
if described[0]["error_code"] != 0 or parts != list(range(PARTITIONS)):
    fail("describe_topics after create", list(range(PARTITIONS)), described)
print("kafka-python: created %s with %d partitions" % (TOPIC, PARTITIONS))
replicas = {p["partition"]: p["replicas"] for p in described[0]["partitions"]}
if any(len(set(r)) != REPLICATION_FACTOR for r in replicas.values()):
    fail("partition replicas", "%d each" % REPLICATION_FACTOR, replicas)
if "CLUSTER_BROKERS" in os.environ:  # a cluster: the partitions led by different brokers
    leaders = {p["partition"]: p["leader"] for p in described[0]["partitions"]}
    if len(set(leaders.values())) != min(PARTITIONS, int(os.environ["CLUSTER_BROKERS"])):
        fail("partition leaders", "different brokers", leaders)
    print("kafka-python: partitions led by brokers %s" % leaders)

want = {}
extend(want, produce(0, N))
print("kafka-python: produced %d records, acks=all; per partition %s"
      % (N, {p: len(r) for p, r in want.items()}))
if "CLUSTER_KILL" in os.environ:  # a broker dies; the records it led must survive
    if any(not r for r in want.values()):
        fail("records on every partition before the kill", "all %d" % PARTITIONS, {p: len(r) for p, r in want.items()})
    subprocess.run(os.environ["CLUSTER_KILL"], shell=True, check=True)
    extend(want, produce(N, N))
    print("kafka-python: after the kill, produced %d more records, acks=all; per partition %s"
          % (N, {p: len(r) for p, r in want.items()}))
produced = sum(len(r) for r in want.values())

consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=None, enable_auto_commit=False,
                         auto_offset_reset="earliest", consumer_timeout_ms=2000,
                         request_timeout_ms=15000)
consumer.assign(TPS)
consumer.seek_to_beginning(*TPS)
compare("assign", want, consume(consumer, produced))
consumer.close()
print("kafka-python: assigned consumer read %d records, all match (key, value, headers, order)" % produced)

# Consumer group: read everything, commit synchronously, leave.
consumer = group_consumer()
compare("group", want, consume(consumer, produced))
consumer.commit()
committed = {p: consumer.committed(tp) for p, tp in enumerate(TPS)}
want_committed = {p: len(r) for p, r in want.items()}
if committed != want_committed:
    fail("committed offsets after commit()", want_committed, committed)
consumer.close()
print("kafka-python: group %s read %d records, all match; committed %s" % (GROUP, produced, committed))

# A new member of the group starts at the committed offsets: only the new records.
more = produce(produced, 6)
consumer = group_consumer()
compare("group after commit", more, consume(consumer, 6))
consumer.close()
print("kafka-python: group resumed at the committed offsets, read only the 6 new records")

# ListGroups goes to every broker over the admin client's connections, opened
# before the kill: the one to the killed broker is dead, and kafka-python's
# admin client finds that out on first use and does not retry (a Kafka broker
# killed under it gives the same). One more try opens a new connection.
for attempt in range(3):
    try:
        groups = [g[0] for g in admin.list_consumer_groups()]
        break
    except KafkaConnectionError as e:
        print("kafka-python: list_consumer_groups: %s; trying again on a new connection" % e)
        if attempt == 2:
            raise
if GROUP not in groups:
    fail("list_consumer_groups", GROUP, groups)
admin.close()
print("kafka-python: list_consumer_groups shows %s" % GROUP)
