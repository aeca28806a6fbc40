package gateway

import (
	"cmp"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// MaxRanges is the most byte ranges one request is served: Go's
// ServeContent takes any number whose total is at most the file's size,
// so one request of many small ranges could have the node re-read and
// re-check gigabytes. Past it, after sorting and merging, the whole file
// is sent (as RFC 9110 allows a server to ignore Range).
const MaxRanges = 16

// normalizeRanges rewrites a request's Range header for a file of size
// bytes: its ranges resolved, sorted and merged where they overlap or
// touch; dropped altogether when more than MaxRanges remain. A header it
// cannot read, or whose ranges are all past the end, is left to
// ServeContent, which answers 416 or ignores it as the standard says.
func normalizeRanges(h http.Header, size int64) {
	spec := h.Get("Range")
	if spec == "" {
		return
	}
	rs, ok := parseRanges(spec, size)
	if !ok || len(rs) == 0 {
		return
	}
	slices.SortFunc(rs, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	merged := rs[:1]
	for _, r := range rs[1:] {
		last := &merged[len(merged)-1]
		if r[0] <= last[1]+1 {
			last[1] = max(last[1], r[1])
			continue
		}
		merged = append(merged, r)
	}
	if len(merged) > MaxRanges {
		h.Del("Range")
		return
	}
	var b strings.Builder
	b.WriteString("bytes=")
	for i, r := range merged {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(r[0], 10))
		b.WriteByte('-')
		b.WriteString(strconv.FormatInt(r[1], 10))
	}
	h.Set("Range", b.String())
}

// parseRanges resolves a "bytes=" header into inclusive [start, end]
// pairs within size, leaving out those that start past the end; ok is
// false for a header it cannot read.
func parseRanges(spec string, size int64) ([][2]int64, bool) {
	list, ok := strings.CutPrefix(spec, "bytes=")
	if !ok {
		return nil, false
	}
	var out [][2]int64
	for _, part := range strings.Split(list, ",") {
		part = strings.TrimSpace(part)
		first, last, ok := strings.Cut(part, "-")
		if !ok {
			return nil, false
		}
		first, last = strings.TrimSpace(first), strings.TrimSpace(last)
		var start, end int64
		switch {
		case first == "":
			n, err := strconv.ParseInt(last, 10, 64)
			if err != nil || n < 0 {
				return nil, false
			}
			if n == 0 {
				continue
			}
			start, end = max(size-n, 0), size-1
		default:
			s, err := strconv.ParseInt(first, 10, 64)
			if err != nil || s < 0 {
				return nil, false
			}
			start, end = s, size-1
			if last != "" {
				e, err := strconv.ParseInt(last, 10, 64)
				if err != nil || e < s {
					return nil, false
				}
				end = min(e, size-1)
			}
		}
		if start >= size {
			continue
		}
		out = append(out, [2]int64{start, end})
	}
	return out, true
}

// closeAfterReads is a File whose Close waits for a Read or Seek in
// progress: ServeContent answers several ranges from a goroutine of its
// own that may still be reading when the handler returns and closes the
// file (the read ends with the request's context).
type closeAfterReads struct {
	mu     sync.Mutex
	f      File
	closed bool
}

var errFileClosed = errors.New("gateway: file closed")

func (c *closeAfterReads) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, errFileClosed
	}
	return c.f.Read(p)
}

// Next is the file's Next (see nexter), which the caller must check it
// has (nexterOf). Its bytes stay valid until the next call: only the
// handler's own goroutine uses it (ServeContent's one range), and the
// handler closes the file only once that is done.
func (c *closeAfterReads) Next(max int) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errFileClosed
	}
	return c.f.(nexter).Next(max)
}

// ReadAheadUntil passes the end of a range on to a file that reads ahead.
func (c *closeAfterReads) ReadAheadUntil(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.f.(interface{ ReadAheadUntil(n int64) }); ok && !c.closed {
		b.ReadAheadUntil(n)
	}
}

func (c *closeAfterReads) Seek(off int64, whence int) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, errFileClosed
	}
	return c.f.Seek(off, whence)
}

func (c *closeAfterReads) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.f.Close()
}

// Size is the file's.
func (c *closeAfterReads) Size() uint64 { return c.f.Size() }

var _ File = (*closeAfterReads)(nil)
