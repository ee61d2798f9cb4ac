#!/bin/bash
pid=$(cat /tmp/kcat/broker.pid 2>/dev/null) && kill $pid 2>/dev/null; for i in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
rmdir /sys/fs/cgroup/cpu/kcat-exp 2>/dev/null; true
