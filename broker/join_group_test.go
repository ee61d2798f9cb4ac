package broker

import (
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestJoinGroupLongestIDs: JoinGroup, every version, from a client whose client.id and
// group.instance.id are as long as a protocol string can be (32,767 bytes, of two-byte
// characters). The member id made from them must still fit a string: it used to overflow
// its int16 length, so that the response could not be decoded. The id is valid UTF-8 (cut
// at a character boundary) and, given back, is accepted.
func TestJoinGroupLongestIDs(t *testing.T) {
	d := startDataBroker(t, func(c *Config) { c.Groups.InitialRebalanceDelay = 0 })
	// An odd ASCII start puts the cut of the old code inside a character.
	clientID := "c" + strings.Repeat("é", math.MaxInt16/2)
	instanceID := "i" + strings.Repeat("ü", math.MaxInt16/2)
	rc := dialRaw(t, d.addr)
	join := func(req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
		t.Helper()
		rc.nextID++
		frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)).AppendRequest(nil, req, rc.nextID)
		if _, err := rc.c.Write(frame); err != nil {
			t.Fatal(err)
		}
		rc.sent = append(rc.sent, req)
		return rc.receive().(*kmsg.JoinGroupResponse) // fails the test if it does not decode
	}
	for v := int16(0); v <= 9; v++ {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version = v
		req.Group = "long-" + string(rune('0'+v))
		req.ProtocolType = "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 10000
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0}
		req.Protocols = append(req.Protocols, p)
		prefix := clientID
		if v >= 5 {
			req.InstanceID, prefix = &instanceID, instanceID
		}
		resp := join(req)
		if resp.ErrorCode == kerr.MemberIDRequired.Code { // KIP-394, v4+: come back with the id
			req.MemberID = resp.MemberID
			resp = join(req)
		}
		if resp.ErrorCode != 0 {
			t.Fatalf("v%d: %v", v, kerr.ErrorForCode(resp.ErrorCode))
		}
		id := resp.MemberID
		if len(id) > math.MaxInt16 || !utf8.ValidString(id) || !strings.HasPrefix(id, prefix[:1000]) {
			t.Fatalf("v%d: member id of %d bytes, valid UTF-8 %v, starting %q", v, len(id), utf8.ValidString(id), id[:min(len(id), 20)])
		}
		if req.MemberID != "" && req.MemberID != id {
			t.Fatalf("v%d: joined again as %q..., not as the id given", v, id[:20])
		}
	}
}
