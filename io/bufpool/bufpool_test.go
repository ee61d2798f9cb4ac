package bufpool

import "testing"

func TestClassSize(t *testing.T) {
	for _, tc := range []struct {
		n, size int
		ok      bool
	}{
		{0, MinSize, true},
		{1, MinSize, true},
		{MinSize, MinSize, true},
		{MinSize + 1, 2 * MinSize, true},
		{1 << 20, 1 << 20, true},
		{1<<20 + 1, 2 << 20, true},
		{MaxSize, MaxSize, true},
		{MaxSize + 1, 2 * MaxSize, false},
	} {
		if size, ok := ClassSize(tc.n); size != tc.size || ok != tc.ok {
			t.Errorf("ClassSize(%d) = %d, %v; want %d, %v", tc.n, size, ok, tc.size, tc.ok)
		}
	}
}

// TestPutGet checks that a buffer given back is found by a Get for any
// size of its class and no other, and that buffers outside the classes
// are not kept.
func TestPutGet(t *testing.T) {
	b := make([]byte, 100, 4<<10)
	b[0] = 1
	Put(nil, b)
	if p := Get(8 << 10); p != nil && cap(*p) != 8<<10 {
		t.Fatalf("Get(8 KiB) returned a buffer of %d bytes", cap(*p))
	}
	// sync.Pool may drop what it holds at any GC; try a few times.
	found := false
	for range 10 {
		Put(nil, make([]byte, 0, 4<<10))
		if p := Get(3<<10 + 1); p != nil {
			if len(*p) != 0 || cap(*p) != 4<<10 {
				t.Fatalf("Get(3 KiB+1) = len %d cap %d; want an empty 4 KiB buffer", len(*p), cap(*p))
			}
			found = true
			break
		}
	}
	if !found {
		t.Fatal("Get never returned the buffer given back")
	}
	for _, c := range []int{MinSize - 1, 3 << 10, 2 * MaxSize} {
		Put(nil, make([]byte, 0, c))
		if p := Get(c); p != nil && cap(*p) == c {
			t.Errorf("a buffer of %d bytes, not a class size, was kept", c)
		}
	}
	if Get(MaxSize+1) != nil {
		t.Error("Get above MaxSize returned a buffer")
	}
}
