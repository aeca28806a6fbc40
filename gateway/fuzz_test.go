package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// FuzzRangeHeader rewrites any Range header for a file of any size: the
// result is no Range, the header as it was (left to ServeContent), or at
// most MaxRanges sorted, disjoint ranges inside the file.
func FuzzRangeHeader(f *testing.F) {
	f.Add("bytes=0-9,5-14,-3", int64(100))
	f.Add("bytes=-0", int64(0))
	f.Add("bytes=18446744073709551615-", int64(1))
	f.Fuzz(func(t *testing.T, spec string, size int64) {
		if size < 0 {
			size = -size
		}
		h := http.Header{"Range": {spec}}
		normalizeRanges(h, size)
		got := h.Get("Range")
		if got == "" || got == spec {
			return
		}
		list, ok := strings.CutPrefix(got, "bytes=")
		if !ok {
			t.Fatalf("%q became %q", spec, got)
		}
		parts := strings.Split(list, ",")
		if len(parts) > MaxRanges {
			t.Fatalf("%q became %d ranges", spec, len(parts))
		}
		last := int64(-2)
		for _, p := range parts {
			a, b, _ := strings.Cut(p, "-")
			start, err1 := strconv.ParseInt(a, 10, 64)
			end, err2 := strconv.ParseInt(b, 10, 64)
			if err1 != nil || err2 != nil || start > end || start <= last+1 || end >= size {
				t.Fatalf("%q (size %d) became %q", spec, size, got)
			}
			last = end
		}
	})
}
