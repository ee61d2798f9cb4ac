package segment

import (
	"bytes"
	"testing"
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
