package chunk

import "testing"

func TestByteRangeBounds(t *testing.T) {
	const size = 1026
	cases := []struct {
		r        ByteRange
		from, to uint64
		ok       bool
	}{
		{ByteRange{From: 0, ToEnd: true}, 0, 1025, true},
		{ByteRange{From: 512, To: 1023}, 512, 1023, true},
		{ByteRange{From: 512, To: -256}, 512, 770, true},
		{ByteRange{From: -5, ToEnd: true}, 1021, 1025, true},
		{ByteRange{From: -9999, ToEnd: true}, 0, 1025, true},
		{ByteRange{From: -9999, To: -3}, 0, 1023, true},
		{ByteRange{From: 0, To: 0}, 0, 0, true},
		{ByteRange{From: 0, To: 99999}, 0, 1025, true},
		{ByteRange{From: 1026, ToEnd: true}, 0, 0, false},
		{ByteRange{From: 10, To: -2000}, 0, 0, false},
		{ByteRange{From: 600, To: -500}, 0, 0, false},
	}
	for _, tc := range cases {
		from, to, ok := tc.r.bounds(size)
		if ok != tc.ok || (ok && (from != tc.from || to != tc.to)) {
			t.Errorf("%+v: %d-%d %v, want %d-%d %v", tc.r, from, to, ok, tc.from, tc.to, tc.ok)
		}
	}
	if _, _, ok := (ByteRange{ToEnd: true}).bounds(0); ok {
		t.Error("a range of an empty file")
	}
}
