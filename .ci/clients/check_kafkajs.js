// kafkajs against $BOOTSTRAP: create $TOPIC (3 partitions, retention.ms set),
// produce keyed records with headers (acks -1) in several sends, check the acked
// offsets, the high watermarks from admin.fetchTopicOffsets, the metadata and the
// topic config from describeConfigs; then read everything with a group consumer
// (kafkajs has no other kind) and check the offsets it committed.
// Exits non-zero, printing expected vs got. With CLUSTER_BROKERS=N (driver.sh,
// CLUSTER=1) the partitions must be led by different brokers. The topic has
// REPLICATION_FACTOR replicas (default 1) and, when set, MIN_INSYNC_REPLICAS; with
// CLUSTER_KILL set (a shell command that kills a partition's leader and returns
// once others lead) it runs after the first sends, and the sends after it are
// checked with the rest.
'use strict'
const { execSync } = require('child_process')
const { Kafka, logLevel, Partitioners, ConfigResourceTypes } = require('kafkajs')

const BOOTSTRAP = process.env.BOOTSTRAP
const TOPIC = process.env.TOPIC
const PARTITIONS = 3
const SENDS = 3
const PER_SEND = 10
const RETENTION_MS = '3600000'
const REPLICATION_FACTOR = Number(process.env.REPLICATION_FACTOR || '1')
const TOPIC_CONFIGS = [{ name: 'retention.ms', value: RETENTION_MS }]
if (process.env.MIN_INSYNC_REPLICAS) TOPIC_CONFIGS.push({ name: 'min.insync.replicas', value: process.env.MIN_INSYNC_REPLICAS })

function fail (msg, want, got) {
  console.error('kafkajs check FAILED: ' + msg)
  if (want !== undefined) {
    console.error('expected: ' + JSON.stringify(want))
    console.error('got:      ' + JSON.stringify(got))
  }
  process.exit(1)
}

function same (a, b) { return JSON.stringify(a) === JSON.stringify(b) }

const kafka = new Kafka({
  clientId: 'runnel-ci',
  brokers: [BOOTSTRAP],
  connectionTimeout: 5000,
  requestTimeout: 15000,
  retry: { retries: 5 }, // rides out a leader moving
  logLevel: logLevel.WARN
})

async function consumeAll (admin, want) {
  const groupId = 'ci-group-' + TOPIC
  const consumer = kafka.consumer({ groupId })
  const got = [...Array(PARTITIONS)].map(() => [])
  const total = want.reduce((n, p) => n + p.length, 0)
  consumer.on(consumer.events.CRASH, e => fail('group consumer crashed: ' + e.payload.error))
  await consumer.connect()
  await consumer.subscribe({ topics: [TOPIC], fromBeginning: true })
  let done
  const finished = new Promise(resolve => { done = resolve })
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      got[partition].push(record(Number(message.offset), message.key, message.value, message.headers))
      if (got.reduce((n, p) => n + p.length, 0) >= total) done()
    }
  })
  const timer = setTimeout(done, 30000)
  await finished
  clearTimeout(timer)
  await consumer.disconnect()
  if (!same(got, want)) fail('consumed records differ from produced', want, got)
  console.log(`kafkajs: group consumer read ${total} records, all match`)

  const committed = (await admin.fetchOffsets({ groupId, topics: [TOPIC] }))[0].partitions
    .map(p => ({ partition: p.partition, offset: Number(p.offset) }))
    .sort((a, b) => a.partition - b.partition)
  const wantCommitted = want.map((recs, partition) => ({ partition, offset: recs.length }))
  if (!same(committed, wantCommitted)) fail('offsets committed by the group', wantCommitted, committed)
  console.log('kafkajs: the group committed the end offsets')
}

// record normalizes one record for comparison (Buffers to strings).
function record (offset, key, value, headers) {
  const h = {}
  for (const [k, v] of Object.entries(headers || {})) h[k] = String(v)
  return { offset, key: String(key), value: String(value), headers: h }
}

// sendRound sends SENDS times PER_SEND records, each send to partition s (so
// every partition gets records and the acked baseOffset is meaningful), with
// acks -1, and adds them to want.
async function sendRound (producer, want, round) {
  for (let s = 0; s < SENDS; s++) {
    const partition = s % PARTITIONS
    const key = `key-${round}-${s}`
    const messages = [...Array(PER_SEND)].map((_, j) => ({
      key, partition, value: `value-${round}-${s}-${j}`, headers: { i: `${s * PER_SEND + j}`, src: 'kafkajs' }
    }))
    const res = await producer.send({ topic: TOPIC, acks: -1, timeout: 15000, messages })
    if (res.length !== 1 || res[0].errorCode !== 0 || res[0].partition !== partition) {
      fail(`send result (${round}, send ${s})`, `partition ${partition}, errorCode 0`, res)
    }
    const base = Number(res[0].baseOffset)
    if (base !== want[partition].length) fail(`baseOffset of send ${s} (${round}) to partition ${partition}`, want[partition].length, base)
    messages.forEach((m, j) => want[partition].push(record(base + j, m.key, m.value, m.headers)))
  }
}

async function main () {
  const admin = kafka.admin()
  await admin.connect()
  const created = await admin.createTopics({
    waitForLeaders: true,
    timeout: 15000,
    topics: [{ topic: TOPIC, numPartitions: PARTITIONS, replicationFactor: REPLICATION_FACTOR, configEntries: TOPIC_CONFIGS }]
  })
  if (created !== true) fail('createTopics did not create the topic', true, created)
  const md = await admin.fetchTopicMetadata({ topics: [TOPIC] })
  const parts = md.topics[0].partitions.map(p => p.partitionId).sort()
  if (!same(parts, [0, 1, 2])) fail('metadata partitions', [0, 1, 2], parts)
  console.log(`kafkajs: created ${TOPIC} with ${PARTITIONS} partitions`)
  const replicas = md.topics[0].partitions.map(p => p.replicas)
  if (replicas.some(r => new Set(r).size !== REPLICATION_FACTOR)) fail('partition replicas', `${REPLICATION_FACTOR} each`, replicas)
  if (process.env.CLUSTER_BROKERS) { // a cluster: the partitions led by different brokers
    const leaders = md.topics[0].partitions.map(p => p.leader)
    if (new Set(leaders).size !== Math.min(PARTITIONS, Number(process.env.CLUSTER_BROKERS))) {
      fail('partition leaders', 'different brokers', leaders)
    }
    console.log(`kafkajs: partitions led by brokers ${leaders}`)
  }

  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false })
  await producer.connect()
  const want = [...Array(PARTITIONS)].map(() => [])
  await sendRound(producer, want, 'before')
  if (process.env.CLUSTER_KILL) { // a broker dies; the records it led must survive
    execSync(process.env.CLUSTER_KILL, { stdio: 'inherit' })
    await sendRound(producer, want, 'after-kill')
  }
  await producer.disconnect()
  console.log(`kafkajs: produced ${want.flat().length} records, acks -1; per partition ${want.map(p => p.length)}`)

  const offsets = (await admin.fetchTopicOffsets(TOPIC))
    .map(o => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) }))
    .sort((a, b) => a.partition - b.partition)
  const wantOffsets = want.map((recs, partition) => ({ partition, low: 0, high: recs.length }))
  if (!same(offsets, wantOffsets)) fail('fetchTopicOffsets', wantOffsets, offsets)
  console.log('kafkajs: high watermarks match')

  const cfg = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: TOPIC, configNames: ['retention.ms'] }]
  })
  const res = cfg.resources[0]
  const entry = res && res.configEntries.find(e => e.configName === 'retention.ms')
  if (!res || res.errorCode !== 0 || !entry || entry.configValue !== RETENTION_MS) {
    fail('describeConfigs retention.ms', RETENTION_MS, res)
  }
  console.log('kafkajs: describeConfigs retention.ms matches')

  await consumeAll(admin, want)
  await admin.disconnect()
}

main().then(() => process.exit(0), e => fail(e.stack || String(e)))
