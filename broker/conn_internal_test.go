package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"testing"
	"testing/iotest"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/io/bufpool"
)

func TestParseHeader(t *testing.T) {
	v1 := func(key, version int16, corr int32, clientID []byte) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(key))
		b = binary.BigEndian.AppendUint16(b, uint16(version))
		b = binary.BigEndian.AppendUint32(b, uint32(corr))
		if clientID == nil {
			return binary.BigEndian.AppendUint16(b, 0xffff)
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
		return append(b, clientID...)
	}
	tests := []struct {
		name      string
		frame     []byte
		clientID  string // "-" for null
		bodyStart int
		err       bool
	}{
		{"v1", append(v1(3, 8, 7, []byte("cl")), 0xee), "cl", 12, false},
		{"v1 null client id", v1(3, 8, 7, nil), "-", 10, false},
		{"v2 empty tags", append(v1(3, 12, 7, []byte("cl")), 0, 0xee), "cl", 13, false},
		{"v2 tags", append(v1(3, 12, 7, nil), 1, 5, 2, 0xaa, 0xbb, 0xee), "-", 15, false},
		{"v2 tag longer than frame", append(v1(3, 12, 7, nil), 1, 5, 9, 0xaa), "", 0, true},
		{"v2 missing tags", v1(3, 12, 7, nil), "", 0, true},
		{"client id longer than frame", v1(3, 8, 7, nil)[:8], "", 0, true},
		{"client id cut", append(binary.BigEndian.AppendUint64(nil, 0x0003000800000007), 0, 5, 'a'), "", 0, true},
		{"short", []byte{0, 3, 0}, "", 0, true},
		{"unknown key", v1(999, 0, 7, nil), "", 0, true},
		{"ApiVersions from the future", binary.BigEndian.AppendUint64(nil, 0x0012006300000007), "-", 8, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := parseHeader(tt.frame)
			if tt.err {
				if !errors.Is(err, errBadRequest) {
					t.Fatalf("err %v, want errBadRequest", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.correlationID != 7 || h.bodyStart != tt.bodyStart {
				t.Errorf("header %+v, want body at %d", h, tt.bodyStart)
			}
			if got := "-"; h.clientID != nil {
				got = *h.clientID
				if got != tt.clientID {
					t.Errorf("client id %q, want %q", got, tt.clientID)
				}
			} else if tt.clientID != "-" {
				t.Errorf("client id null, want %q", tt.clientID)
			}
		})
	}
}

// TestUnsupportedVersionReply: a version kmsg knows but we do not serve
// gets UNSUPPORTED_VERSION in the top-level error code, when the response
// has one; otherwise the connection closes.
func TestUnsupportedVersionReply(t *testing.T) {
	c := &conn{logger: slog.New(slog.DiscardHandler)}
	r, _, err := c.unsupportedVersion(header{key: kmsg.DescribeCluster.Int16(), version: 1, correlationID: 3}, newReply())
	if err != nil {
		t.Fatal(err)
	}
	<-r.done
	resp := r.resp.(*kmsg.DescribeClusterResponse)
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || !r.flexible {
		t.Errorf("response %+v flexible %v", resp, r.flexible)
	}
	// Metadata has a top-level error code from v13 only.
	if _, _, err := c.unsupportedVersion(header{key: kmsg.Metadata.Int16(), version: 12}, newReply()); !errors.Is(err, errBadRequest) {
		t.Errorf("Metadata v12 has no top-level error code: %v", err)
	}
	r, _, err = c.unsupportedVersion(header{key: kmsg.Metadata.Int16(), version: 13}, newReply())
	if err != nil || r.resp.(*kmsg.MetadataResponse).ErrorCode != kerr.UnsupportedVersion.Code {
		t.Errorf("Metadata v13: %v", err)
	}
}

// readerConn is a net.Conn reading from r.
type readerConn struct {
	discardConn
	r io.Reader
}

func (c readerConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// readingConn is a std connection of b that reads from r.
func readingConn(b *Broker, r io.Reader) *stdConn {
	c := &stdConn{nc: readerConn{r: r}}
	c.b = b
	return c
}

func TestReadBody(t *testing.T) {
	// 1_000_100: a franz-go produce request of one full batch must fit a
	// kept buffer.
	for _, size := range []int{0, 10, 64<<10 - 1, 64 << 10, 64<<10 + 1, 1_000_100, 1<<20 + 3} {
		data := make([]byte, size+5) // the next frame's bytes follow
		for i := range data {
			data[i] = byte(i * 7)
		}
		for _, reader := range []struct {
			name string
			r    func(io.Reader) io.Reader
		}{
			{"whole", func(r io.Reader) io.Reader { return r }},
			{"halves", iotest.HalfReader},
			{"bytes", iotest.OneByteReader},
		} {
			if reader.name == "bytes" && size > 1<<16 {
				continue
			}
			// No buffer ahead: a large frame's buffer grows with its bytes.
			c := readingConn(&Broker{}, reader.r(bytes.NewReader(data)))
			buf, err := c.readBody(size)
			if err != nil || !bytes.Equal(buf, data[:size]) {
				t.Errorf("size %d, %s: %v, %d bytes read correctly: %v", size, reader.name, err, len(buf), bytes.Equal(buf, data[:size]))
			}
			if cap(buf) > max(2*size, 64<<10) || (size <= maxKeptBuffer && cap(buf) > maxKeptBuffer) {
				t.Errorf("size %d: buffer of %d bytes", size, cap(buf))
			}
			// With room ahead, a large frame is read into one buffer of its
			// size class, and the room is given back.
			if size > maxKeptBuffer {
				ahead := readingConn(&Broker{cfg: Config{RequestBufferAhead: 4 << 20}}, reader.r(bytes.NewReader(data)))
				if buf, err := ahead.readBody(size); err != nil || !bytes.Equal(buf, data[:size]) || cap(buf) != 2<<20 || ahead.b.bufferAhead.Load() != 0 {
					t.Errorf("size %d, %s, buffer ahead: %v, %d-byte buffer, %d bytes still ahead", size, reader.name, err, cap(buf), ahead.b.bufferAhead.Load())
				}
			}
			// A buffer given back serves a frame of its size class (when the
			// pool keeps it: sync.Pool may drop it).
			bufpool.Put(c.pooledFrame, buf)
			c.nc = readerConn{r: reader.r(bytes.NewReader(data))}
			if buf, err := c.readBody(size); err != nil || !bytes.Equal(buf, data[:size]) {
				t.Errorf("size %d, %s, pooled buffer: %v", size, reader.name, err)
			}
		}
	}
	c := readingConn(&Broker{}, bytes.NewReader(make([]byte, 100)))
	if _, err := c.readBody(200 << 10); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short body: %v", err)
	}
}
