package broker

import "os"

// RUNNEL_TEST_NET=epoll runs the package's tests on the epoll transport:
// brokers built from DefaultConfig here, and those of brokertest (which
// reads the variable itself, for other packages' tests too).
func init() {
	if v := os.Getenv("RUNNEL_TEST_NET"); v != "" {
		defaultNet = v
	}
}
