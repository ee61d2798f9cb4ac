BASE="-X acks=1 -X enable.idempotence=false -X compression.codec=none -X linger.ms=5 -X batch.num.messages=961 -X batch.size=1000000 -X message.timeout.ms=60000"
# matched: the generator's window per process (2 connections x 4 in flight = 8 requests), queue = window + one batch a partition, no resend
MATCH="$BASE -X max.in.flight.requests.per.connection=8 -X queue.buffering.max.messages=15376 -X message.send.max.retries=0"
