package segment

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// TestRecordScannerWindows: the streaming scan gives the same answer with
// windows of every small size, so that varints, fields and record ends
// split across refills at every position are read right.
func TestRecordScannerWindows(t *testing.T) {
	records := []KeyValue{{Key: []byte("k"), Value: bytes.Repeat([]byte("v"), 200)}, {Key: nil, Value: []byte("x")}, {Key: []byte{}, Value: nil}}
	batch := BuildBatch(nil, 1000, records)
	h, err := ValidateBatch(batch)
	if err != nil {
		t.Fatal(err)
	}
	body := batch[BatchHeaderSize:]
	for size := 1; size <= 20; size++ {
		s := recordScanner{src: bytes.NewReader(body), buf: make([]byte, size)}
		if err := s.scan(h, true, nil); err != nil {
			t.Fatalf("window of %d bytes: %v", size, err)
		}
		// Every truncation is refused, whatever the window.
		for cut := range len(body) {
			s := recordScanner{src: bytes.NewReader(body[:cut]), buf: make([]byte, size)}
			if err := s.scan(h, true, nil); err == nil {
				t.Fatalf("window of %d bytes: records cut to %d of %d bytes accepted", size, cut, len(body))
			}
		}
	}
}

// TestDecoderReuse: a pooled decoder that failed on one batch (truncated,
// or garbage) decodes the next one right, for every codec.
func TestDecoderReuse(t *testing.T) {
	raw := BuildBatch(nil, 1000, []KeyValue{{Key: []byte("k"), Value: bytes.Repeat([]byte("value "), 1000)}})[BatchHeaderSize:]
	compressed := map[int][]byte{}
	for codec, compress := range map[int]func() []byte{
		CodecGzip: func() []byte {
			var b bytes.Buffer
			w := gzip.NewWriter(&b)
			w.Write(raw)
			w.Close()
			return b.Bytes()
		},
		CodecSnappy: func() []byte { return snappy.Encode(nil, raw) },
		CodecLZ4: func() []byte {
			var b bytes.Buffer
			w := lz4.NewWriter(&b)
			w.Write(raw)
			w.Close()
			return b.Bytes()
		},
		CodecZstd: func() []byte {
			e, _ := zstd.NewWriter(nil)
			defer e.Close()
			return e.EncodeAll(raw, nil)
		},
	} {
		compressed[codec] = compress()
	}
	d := new(decoder)
	for codec, good := range compressed {
		for _, bad := range [][]byte{good[:len(good)/2], []byte("garbage"), good[:len(good)-1]} {
			if r, err := d.open(codec, bad); err == nil {
				if out, err := readAllBounded(r); err == nil && bytes.Equal(out, raw) {
					t.Fatalf("codec %d: a damaged stream decoded", codec)
				}
			}
			r, err := d.open(codec, good)
			if err != nil {
				t.Fatalf("codec %d after a damaged stream: %v", codec, err)
			}
			if out, err := readAllBounded(r); err != nil || !bytes.Equal(out, raw) {
				t.Fatalf("codec %d after a damaged stream: %d bytes, %v", codec, len(out), err)
			}
		}
	}
}
