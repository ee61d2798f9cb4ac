# Runnel's Makefile: how we build, run, test and measure. `make help` lists the targets.
GO        ?= go
BIN       := bin/runnel
PKGS      := ./...
# Where `make bench` writes: results/<date>-<short host description>/
RESULTS   ?= results/$(shell date +%Y-%m-%d)-$(shell nproc)core-$(shell uname -m)
STRESS_ROUNDS ?= 1000
KILL_ROUNDS   ?= 100
# `make cluster`: the nodes of config/cluster/ it starts (CLUSTER_NODES=broker-4 adds the fourth),
# and where their data, logs and pids go.
CLUSTER_NODES ?= node-1 node-2 node-3
CLUSTER_DATA  := data/cluster

.PHONY: help build run demo test test-std race stress cluster-faults fuzz bench bench-quick bench-transports bench-micro vet lint clean cluster cluster-stop

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build bin/runnel (broker and tools) and bin/runnel-bench (the harness `runnel bench` runs)
	$(GO) build -o $(BIN) ./cmd/runnel
	$(GO) build -o $(BIN)-bench ./cmd/runnel-bench

run: build ## start a broker on localhost:9092 with its data in ./data
	./$(BIN) serve

cluster: build ## start the three-node cluster of config/cluster/ in the background, data and logs in ./data/cluster/node-N/ (CLUSTER_NODES=broker-4: the fourth broker; `make cluster-stop` stops them)
	@for n in $(CLUSTER_NODES); do \
	  dir=$(CLUSTER_DATA)/$$n; mkdir -p $$dir; \
	  if [ -f $$dir/runnel.pid ] && grep -qa "config/cluster/$$n.properties" /proc/$$(cat $$dir/runnel.pid)/cmdline 2>/dev/null; then echo "$$n runs already (pid $$(cat $$dir/runnel.pid))"; continue; fi; \
	  nohup ./$(BIN) serve config/cluster/$$n.properties >>$$dir/runnel.log 2>&1 & echo $$! >$$dir/runnel.pid; \
	done
	@for n in $(CLUSTER_NODES); do \
	  dir=$(CLUSTER_DATA)/$$n; pid=$$(cat $$dir/runnel.pid); \
	  addr=$$(sed -n 's|^listeners=PLAINTEXT://\([^,]*\).*|\1|p' config/cluster/$$n.properties); \
	  tries=150; until ./$(BIN) topics list --bootstrap-server $$addr >/dev/null 2>&1; do \
	    if ! kill -0 $$pid 2>/dev/null || [ $$tries -eq 0 ]; then echo "$$n did not start; the end of $$dir/runnel.log:"; tail -n 20 $$dir/runnel.log; exit 1; fi; \
	    tries=$$((tries - 1)); sleep 0.2; \
	  done; \
	  echo "$$n: pid $$pid, clients on $$addr, log $$dir/runnel.log"; \
	done
	@echo "stop the nodes with: make cluster-stop"

cluster-stop: ## stop every node `make cluster` started (SIGTERM, a clean stop)
	@state() { sed 's/.*) \(.\).*/\1/' /proc/$$1/stat 2>/dev/null; }; \
	for dir in $(CLUSTER_DATA)/*/; do \
	  [ -f $$dir/runnel.pid ] || continue; pid=$$(cat $$dir/runnel.pid); name=$$(basename $$dir); \
	  if grep -qa "config/cluster/$$name.properties" /proc/$$pid/cmdline 2>/dev/null && kill -TERM $$pid; then \
	    tries=300; while [ -n "$$(state $$pid)" ] && [ "$$(state $$pid)" != Z ] && [ $$tries -gt 0 ]; do tries=$$((tries - 1)); sleep 0.1; done; \
	    if [ $$tries -eq 0 ]; then echo "$$name (pid $$pid) did not stop within 30 s; see $$dir/runnel.log"; continue; fi; \
	    echo "stopped $$name (pid $$pid)"; \
	  fi; \
	  rm -f $$dir/runnel.pid; \
	done

demo: ## the order flow of examples/ (event-sourced services on franz-go) against a fresh broker: what each service did, then the read model
	$(GO) build -o $(BIN) ./cmd/runnel
	$(GO) build -o bin/examples/ ./examples/orders ./examples/inventory ./examples/notifications ./examples/query ./examples/demo
	./bin/examples/demo --runnel $(BIN) --bin bin/examples

test: ## run every test (unit, property, crash, real-client Go tests), the broker's on both transports; < 10 min on 2 cores
	$(GO) test -count=1 -timeout 9m $(PKGS)
	$(MAKE) --no-print-directory test-std

test-std: ## the broker's and the CLI's tests again on the std transport (runnel.net=std; the default is epoll)
	RUNNEL_TEST_NET=std $(GO) test -count=1 -timeout 5m ./broker/... ./cmd/...

race: ## run the tests with the race detector
	$(GO) test -count=1 -race -timeout 20m $(PKGS)

stress: ## SIGKILL crash test, $(STRESS_ROUNDS) rounds, prints how many passed
	RUNNEL_CRASH_ROUNDS=$(STRESS_ROUNDS) $(GO) test -count=1 -timeout 60m -run 'TestCrash$$' -v ./segment/ | grep -E 'crash|PASS|FAIL|ok'

cluster-faults: ## replication under faults (issue 13): $(KILL_ROUNDS) leader kills under acks=all load, a split brain, a rolling restart; needs root (network namespaces)
	RUNNEL_KILL_ROUNDS=$(KILL_ROUNDS) RUNNEL_REQUIRE_NETNS=1 $(GO) test -count=1 -timeout 120m -v -run 'TestNamespacesCutIsolateHeal|TestLeaderKilledUnderLoad|TestSplitBrain|TestRollingRestart' ./broker/clustertest/

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-30s} $$pkg || exit 1; \
	  done; \
	done

bench: build ## run the benchmark matrix against fresh brokers, baselines and peers beside; writes $(RESULTS)/ (about 28 min on 2 cores)
	./$(BIN) bench --out $(RESULTS)

bench-quick: build ## the same matrix with short runs (< 2 min), into $(RESULTS)-quick/
	./$(BIN) bench --quick --out $(RESULTS)-quick

bench-transports: build ## the matrix against Runnel on both transports (epoll, the default, and std) at the same rates, into $(RESULTS)-transports/ (< 20 min; QUICK=1: < 3 min)
	./$(BIN) bench $(if $(QUICK),--quick) --transports --out $(RESULTS)-transports$(if $(QUICK),-quick)

bench-micro: ## run the Go micro-benchmarks of storage and server beside their baselines; writes $(RESULTS)/micro.txt
	@mkdir -p $(RESULTS)
	$(GO) test -run '^$$' -bench . -benchmem -count $${COUNT:-3} -timeout 30m ./io/... ./index/... ./segment/... ./broker/... | tee $(RESULTS)/micro.txt

vet: ## go vet and gofmt
	$(GO) vet $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

lint: vet ## alias for vet

clean: ## remove build output (not ./data)
	rm -rf bin
