#!/usr/bin/env bash
# Runs each real-client check against its own fresh broker:
#   driver.sh BROKER_BIN [CHECK...]       (default: all checks)
# For every check: start `BROKER_BIN serve` on free loopback ports with an
# empty log dir, wait for the Kafka port and /healthz, run the client script
# (bounded by `timeout`), SIGTERM the broker and require exit status 0.
# Any failure prints the broker's log. Ends with "N passed, N failed".
# Env: NODE_PATH must reach kafkajs for the kafkajs check; RUNNEL_NET picks the
# broker's transport (epoll or std; unset: the default, epoll on Linux).
# CLUSTER=1 runs every check against a fresh three-node cluster instead
# (run_cluster_check; needs go, to build broker/clustertest/runcluster), with
# topics of 3 partitions replicated 3 times, and a broker SIGKILLed and
# restarted in the middle of each check (CLUSTER_KILL).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
broker_bin=$(realpath "${1:?usage: driver.sh BROKER_BIN [CHECK...]}")
shift
checks=("$@")
[ ${#checks[@]} -gt 0 ] || checks=(kcat kafka-python confluent-kafka kafkajs)

client_timeout=${CLIENT_TIMEOUT:-60}   # seconds one client script may take
pyexe=/usr/bin/python3                 # Debian's python3-kafka/-confluent-kafka live here

# set_cmd NAME sets the array cmd to the command line that runs one check.
set_cmd() {
	case "$1" in
	kcat) cmd=(bash "$here/check_kcat.sh") ;;
	kafka-python) cmd=("$pyexe" -u "$here/check_kafka_python.py") ;;
	confluent-kafka) cmd=("$pyexe" -u "$here/check_confluent_kafka.py") ;;
	kafkajs) cmd=(node "$here/check_kafkajs.js") ;;
	*) return 1 ;;
	esac
}

free_port() {
	"$pyexe" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

healthz_ok() {
	"$pyexe" -c 'import sys,urllib.request; sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)' \
		"http://127.0.0.1:$1/healthz" 2>/dev/null
}

server_pid=""
work=$(mktemp -d /tmp/runnel-clients.XXXXXX)
cleanup() {
	# runcluster's nodes die with it (Pdeathsig).
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -KILL "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# client_failed NAME RC reports a client check that timed out or exited non-zero; it
# succeeds (so the caller marks the check failed) only then.
client_failed() {
	if [ "$2" -eq 124 ] || [ "$2" -eq 137 ]; then
		echo "FAIL [$1]: client timed out after ${client_timeout}s"
	elif [ "$2" -ne 0 ]; then
		echo "FAIL [$1]: client exited with status $2"
	else
		return 1
	fi
}

# check_with_server NAME WHAT LIMIT LOG: the one process loop of both runners. It
# starts server_cmd (WHAT, its output to LOG), waits up to LIMIT s until ready_cmd
# succeeds, runs check NAME's client with client_env, then SIGTERMs the server and
# waits up to LIMIT s for it to exit with status 0. It returns 0 when all of that
# passed, and prints the tail of LOG otherwise.
check_with_server() {
	local name=$1 what=$2 limit=$3 log=$4 rc deadline ok=1
	local -a cmd
	set_cmd "$name" || { echo "unknown check: $name"; return 1; }
	: >"$log" # before ready_cmd reads it
	"${server_cmd[@]}" >"$log" 2>&1 &
	server_pid=$!
	deadline=$((SECONDS + limit))
	until "${ready_cmd[@]}"; do
		if ! kill -0 "$server_pid" 2>/dev/null; then
			wait "$server_pid" && rc=0 || rc=$?
			server_pid=""
			echo "FAIL [$name]: the $what exited with status $rc before becoming ready"
			tail -n 300 "$log"
			return 1
		fi
		if [ $SECONDS -ge $deadline ]; then
			echo "FAIL [$name]: the $what was not ready within $limit s"
			kill -KILL "$server_pid" 2>/dev/null || true
			wait "$server_pid" 2>/dev/null || true
			server_pid=""
			tail -n 300 "$log"
			return 1
		fi
		sleep 0.2
	done
	echo "--- [$name] $what ready (pid $server_pid); running: ${cmd[*]}"

	env "${client_env[@]}" timeout --kill-after=5 "$client_timeout" "${cmd[@]}" 2>&1 && rc=0 || rc=$?
	client_failed "$name" "$rc" && ok=0

	kill -TERM "$server_pid" 2>/dev/null || true
	deadline=$((SECONDS + limit))
	while kill -0 "$server_pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
	if kill -0 "$server_pid" 2>/dev/null; then
		echo "FAIL [$name]: the $what did not exit within $limit s of SIGTERM; killing it"
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		ok=0
	else
		wait "$server_pid" && rc=0 || rc=$?
		if [ $rc -ne 0 ]; then
			echo "FAIL [$name]: the $what exited with status $rc after SIGTERM (want 0)"
			ok=0
		fi
	fi
	server_pid=""
	if [ $ok -eq 1 ]; then
		echo "PASS [$name]"
		return 0
	fi
	echo "----- $what log ($log) -----"
	tail -n 300 "$log" || true
	echo "----- end of $what log -----"
	return 1
}

# broker_ready KPORT APORT: the Kafka port is open and /healthz answers 200.
broker_ready() { port_open "$1" && healthz_ok "$2"; }

# run_check NAME: the check against its own fresh broker.
run_check() {
	local name=$1 kport aport dir
	local -a server_cmd ready_cmd client_env
	kport=$(free_port)
	aport=$(free_port)
	dir="$work/$name"
	mkdir -p "$dir/data"
	echo "--- [$name] starting broker (${RUNNEL_NET:-default transport}): Kafka 127.0.0.1:$kport, admin 127.0.0.1:$aport, data $dir/data"
	server_cmd=("$broker_bin" serve
		--override "listeners=PLAINTEXT://127.0.0.1:$kport"
		--override "log.dirs=$dir/data"
		--override "runnel.admin.listener=127.0.0.1:$aport"
		--override "num.partitions=1"
		--override "auto.create.topics.enable=true"
		${RUNNEL_NET:+--override "runnel.net=$RUNNEL_NET"})
	ready_cmd=(broker_ready "$kport" "$aport")
	# One topic per run, with a unique suffix.
	client_env=(BOOTSTRAP="127.0.0.1:$kport" TOPIC="ci-$name-$$-$RANDOM")
	check_with_server "$name" broker 30 "$dir/broker.log"
}

# cluster_ready OUT: runcluster printed BOOTSTRAP=... to OUT; gives the client
# (client_env) the first address.
cluster_ready() {
	local bootstrap
	bootstrap=$(sed -n 's/^BOOTSTRAP=//p' "$1") && [ -n "$bootstrap" ] || return 1
	echo "--- cluster: $bootstrap; $(sed -n 's/^group //p' "$1")"
	client_env+=(BOOTSTRAP="${bootstrap%%,*}")
}

# run_cluster_check NAME: the check against a fresh cluster of three combined
# nodes started by runcluster (broker/clustertest), which prints BOOTSTRAP=...
# once every node's Metadata lists the three brokers (CLUSTER_READY=apiversions:
# once each answers, for a cluster that does not form yet). Topics have
# replication factor 3 and min.insync.replicas 2 (REPLICATION_FACTOR and
# MIN_INSYNC_REPLICAS for the checks that create theirs, the brokers' defaults for
# the others and __consumer_offsets). The client is given the first node only, one
# that does not coordinate the checks' group (ci-group-$TOPIC), and finds the others
# through Metadata; CLUSTER_BROKERS tells the checks how many brokers Metadata must
# list. Each check runs CLUSTER_KILL (a shell command) once in its middle:
# runcluster SIGKILLs the leader of one of the topic's partitions (neither the
# bootstrap node nor the coordinator), returns once its partitions have new
# leaders, and restarts it while the check goes on. SIGTERM to runcluster waits
# for that restart and stops each node cleanly; it exits 0 only if every node did.
run_cluster_check() {
	local name=$1 dir topic ready=${CLUSTER_READY:-metadata} brokers=""
	local -a server_cmd ready_cmd client_env
	dir="$work/$name"
	topic="ci-$name-$$-$RANDOM"
	mkdir -p "$dir"
	echo "--- [$name] starting a three-node cluster (${RUNNEL_NET:-default transport}, ready: $ready) in $dir"
	server_cmd=("$cluster_bin" --runnel "$broker_bin" --nodes 3 --dir "$dir" --ready "$ready" --group "ci-group-$topic"
		--control "$dir/control.sock"
		--set "num.partitions=3" --set "auto.create.topics.enable=true"
		--set "default.replication.factor=3" --set "min.insync.replicas=2"
		# A killed broker is fenced, and its partitions get new leaders, within 3 s.
		--set "broker.session.timeout.ms=3000" --set "broker.heartbeat.interval.ms=500"
		${RUNNEL_NET:+--set "runnel.net=$RUNNEL_NET"})
	ready_cmd=(cluster_ready "$dir/runcluster.out")
	[ "$ready" = metadata ] && brokers=3
	# BOOTSTRAP is added by cluster_ready.
	client_env=(TOPIC="$topic" PARTITIONS=3 REPLICATION_FACTOR=3 MIN_INSYNC_REPLICAS=2
		CLUSTER_KILL="$(printf '%q ' "$cluster_bin" kill --control "$dir/control.sock" "$topic")"
		${brokers:+CLUSTER_BROKERS=$brokers})
	check_with_server "$name" cluster 90 "$dir/runcluster.out"
}

check_fn=run_check
if [ "${CLUSTER:-}" = 1 ]; then
	cluster_bin="$work/runcluster"
	client_timeout=${CLIENT_TIMEOUT:-120} # a kill, a failover and a restart in each
	(cd "$here/../.." && go build -o "$cluster_bin" ./broker/clustertest/runcluster)
	check_fn=run_cluster_check
fi

passed=0
failed=0
failed_names=()
for c in "${checks[@]}"; do
	if "$check_fn" "$c"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failed_names+=("$c")
	fi
done

[ $failed -eq 0 ] || echo "real-client checks failed: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
