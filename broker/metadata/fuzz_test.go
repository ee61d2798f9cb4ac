package metadata

import (
	"bytes"
	"testing"
)

// FuzzDecodeRecord: DecodeRecord never panics, and whatever it accepts
// re-encodes to exactly the bytes it came from (the format has one
// encoding per record). A decoded record applied to an image either
// applies or leaves the image as it was; it never panics.
func FuzzDecodeRecord(f *testing.F) {
	for _, r := range sampleRecords() {
		b, err := AppendRecord(nil, r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{5, 0, 0xff})
	base := cluster(f)
	before := snapshot(f, base)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			if r != nil {
				t.Fatalf("a record and an error: %#v, %v", r, err)
			}
			return
		}
		again, err := AppendRecord(nil, r)
		if err != nil {
			t.Fatalf("decoded %#v does not encode: %v", r, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("%x decodes to %#v, which encodes to %x", b, r, again)
		}
		if next, err := base.Apply(r); err != nil && next != base {
			t.Fatalf("a refused record returned another image: %v", err)
		}
		// The fuzzer runs many inputs against base: check now and then
		// that none changed it.
		if len(b)%16 == 0 && !equalState(snapshot(t, base), before) {
			t.Fatal("Apply changed the image it was applied to")
		}
	})
}
