package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/netpoll/netpolltest"
)

// TestStdIdleConnectionHoldsNoWriteBuffer: on the std transport a
// connection that has been answered and is now idle holds no write buffer
// (it kept a 64 KiB bufio.Writer for its whole life). What is left per
// connection is mostly its two goroutines' stacks.
func TestStdIdleConnectionHoldsNoWriteBuffer(t *testing.T) {
	const conns = 300
	d := startDataBroker(t, func(c *Config) { c.Net = NetStd })
	before := netpolltest.HeapInUse()
	held := make([]*rawConn, conns)
	for i := range held {
		rc := dialRaw(t, d.addr)
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 3
		rc.send(req, true)
		if resp := rc.receive().(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
			t.Fatalf("ApiVersions: error %d", resp.ErrorCode)
		}
		held[i] = rc
	}
	perConn := (float64(netpolltest.HeapInUse()) - float64(before)) / conns
	t.Logf("%.0f bytes of heap and stack per idle std connection", perConn)
	if perConn > 32<<10 {
		t.Fatalf("an idle std connection costs %.0f bytes, want under 32 KiB (no write buffer of its own)", perConn)
	}
}
