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
# topics of 3 partitions (PARTITIONS=3 for the checks).
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

broker_pid=""
cluster_pid=""
work=$(mktemp -d /tmp/runnel-clients.XXXXXX)
cleanup() {
	if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
		kill -KILL "$broker_pid" 2>/dev/null || true
	fi
	# runcluster's nodes die with it (Pdeathsig).
	if [ -n "$cluster_pid" ] && kill -0 "$cluster_pid" 2>/dev/null; then
		kill -KILL "$cluster_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

show_log() {
	echo "----- broker log ($1) -----"
	tail -n 300 "$1" || true
	echo "----- end of broker log -----"
}

# run_check NAME: returns 0 when the check and the broker's shutdown both pass.
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

run_check() {
	local name=$1 kport aport dir logf rc deadline
	local -a cmd
	set_cmd "$name" || { echo "unknown check: $name"; return 1; }
	kport=$(free_port)
	aport=$(free_port)
	dir="$work/$name"
	mkdir -p "$dir/data"
	logf="$dir/broker.log"

	echo "--- [$name] starting broker (${RUNNEL_NET:-default transport}): Kafka 127.0.0.1:$kport, admin 127.0.0.1:$aport, data $dir/data"
	"$broker_bin" serve \
		--override "listeners=PLAINTEXT://127.0.0.1:$kport" \
		--override "log.dirs=$dir/data" \
		--override "runnel.admin.listener=127.0.0.1:$aport" \
		--override "num.partitions=1" \
		--override "auto.create.topics.enable=true" \
		${RUNNEL_NET:+--override "runnel.net=$RUNNEL_NET"} \
		>"$logf" 2>&1 &
	broker_pid=$!

	deadline=$((SECONDS + 30))
	until port_open "$kport" && healthz_ok "$aport"; do
		if ! kill -0 "$broker_pid" 2>/dev/null; then
			wait "$broker_pid" && rc=0 || rc=$?
			broker_pid=""
			echo "FAIL [$name]: broker exited with status $rc before becoming ready"
			show_log "$logf"
			return 1
		fi
		if [ $SECONDS -ge $deadline ]; then
			echo "FAIL [$name]: broker not ready within 30 s (port $kport open and /healthz 200)"
			show_log "$logf"
			return 1
		fi
		sleep 0.2
	done
	echo "--- [$name] broker ready (pid $broker_pid); running: ${cmd[*]}"

	local ok=1
	# One topic per run, with a unique suffix.
	BOOTSTRAP="127.0.0.1:$kport" TOPIC="ci-$name-$$-$RANDOM" \
		timeout --kill-after=5 "$client_timeout" "${cmd[@]}" 2>&1 && rc=0 || rc=$?
	client_failed "$name" "$rc" && ok=0

	kill -TERM "$broker_pid" 2>/dev/null || true
	deadline=$((SECONDS + 30))
	while kill -0 "$broker_pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
	if kill -0 "$broker_pid" 2>/dev/null; then
		echo "FAIL [$name]: broker did not exit within 30 s of SIGTERM; killing it"
		kill -KILL "$broker_pid" 2>/dev/null || true
		wait "$broker_pid" 2>/dev/null || true
		ok=0
	else
		wait "$broker_pid" && rc=0 || rc=$?
		if [ $rc -ne 0 ]; then
			echo "FAIL [$name]: broker exited with status $rc after SIGTERM (want 0)"
			ok=0
		fi
	fi
	broker_pid=""

	if [ $ok -eq 1 ]; then
		echo "PASS [$name]"
		return 0
	fi
	show_log "$logf"
	return 1
}

# run_cluster_check NAME: the check against a fresh cluster of three combined
# nodes started by runcluster (broker/clustertest), which prints BOOTSTRAP=...
# once every node's Metadata lists the three brokers (CLUSTER_READY=apiversions:
# once each answers, for a cluster that does not form yet). The client is given
# the first node only, one that does not coordinate the checks' group
# (ci-group-$TOPIC), and finds the others through Metadata; CLUSTER_BROKERS
# tells the checks how many brokers Metadata must list. SIGTERM to runcluster
# stops each node cleanly; it exits 0 only if every node did.
run_cluster_check() {
	local name=$1 dir out rc deadline bootstrap ok=1
	local -a cmd
	set_cmd "$name" || { echo "unknown check: $name"; return 1; }
	dir="$work/$name"
	out="$dir/runcluster.out"
	mkdir -p "$dir"
	: >"$out"
	local ready=${CLUSTER_READY:-metadata} topic="ci-$name-$$-$RANDOM"
	echo "--- [$name] starting a three-node cluster (${RUNNEL_NET:-default transport}, ready: $ready) in $dir"
	"$cluster_bin" --runnel "$broker_bin" --nodes 3 --dir "$dir" --ready "$ready" --group "ci-group-$topic" \
		--set "num.partitions=3" --set "auto.create.topics.enable=true" \
		${RUNNEL_NET:+--set "runnel.net=$RUNNEL_NET"} >"$out" 2>&1 &
	cluster_pid=$!
	deadline=$((SECONDS + 90))
	until bootstrap=$(sed -n 's/^BOOTSTRAP=//p' "$out") && [ -n "$bootstrap" ]; do
		if ! kill -0 "$cluster_pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
			echo "FAIL [$name]: the cluster was not ready within 90 s"
			kill -KILL "$cluster_pid" 2>/dev/null || true
			wait "$cluster_pid" 2>/dev/null || true
			cluster_pid=""
			tail -n 300 "$out"
			return 1
		fi
		sleep 0.2
	done
	echo "--- [$name] cluster ready ($bootstrap; $(sed -n 's/^group //p' "$out")); running: ${cmd[*]}"

	local brokers=""
	[ "$ready" = metadata ] && brokers=3
	env BOOTSTRAP="${bootstrap%%,*}" TOPIC="$topic" PARTITIONS=3 ${brokers:+CLUSTER_BROKERS=$brokers} \
		timeout --kill-after=5 "$client_timeout" "${cmd[@]}" 2>&1 && rc=0 || rc=$?
	client_failed "$name" "$rc" && ok=0

	kill -TERM "$cluster_pid" 2>/dev/null || true
	deadline=$((SECONDS + 90))
	while kill -0 "$cluster_pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
	if kill -0 "$cluster_pid" 2>/dev/null; then
		echo "FAIL [$name]: the cluster did not stop within 90 s of SIGTERM; killing it"
		kill -KILL "$cluster_pid" 2>/dev/null || true
		ok=0
	fi
	wait "$cluster_pid" && rc=0 || rc=$?
	cluster_pid=""
	if [ $rc -ne 0 ]; then
		echo "FAIL [$name]: runcluster exited with status $rc (a node did not stop cleanly)"
		ok=0
	fi
	if [ $ok -eq 1 ]; then
		echo "PASS [$name]"
		return 0
	fi
	tail -n 300 "$out"
	return 1
}

check_fn=run_check
if [ "${CLUSTER:-}" = 1 ]; then
	cluster_bin="$work/runcluster"
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
