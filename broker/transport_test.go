package broker

import "os"

// RUNNEL_TEST_NET=std (or epoll, the default on Linux) runs the package's
// tests on that transport: brokers built from DefaultConfig here, and those
// of brokertest (which reads the variable itself, for other packages' tests
// too).
func init() {
	if v := os.Getenv("RUNNEL_TEST_NET"); v != "" {
		defaultNet = v
	}
}
