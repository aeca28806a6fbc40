package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

func TestRangesAreResolvedSortedMergedAndCapped(t *testing.T) {
	many := "bytes=0-0"
	for i := 1; i <= MaxRanges; i++ {
		many += "," + itoa(i*10) + "-" + itoa(i*10)
	}
	overlapping := "bytes=0-9"
	for i := 1; i < 40; i++ {
		overlapping += "," + itoa(i*5) + "-" + itoa(i*5+9)
	}
	tests := []struct {
		name, in, want string
	}{
		{"one range stays", "bytes=10-19", "bytes=10-19"},
		{"sorted", "bytes=50-59,0-9", "bytes=0-9,50-59"},
		{"overlapping and touching ranges merge", "bytes=0-9,5-14,15-20", "bytes=0-20"},
		{"open and suffix ranges resolve", "bytes=-5,900-", "bytes=900-999"},
		{"an end past the file is cut", "bytes=995-5000", "bytes=995-999"},
		{"ranges past the end go", "bytes=0-1,2000-3000", "bytes=0-1"},
		{"more than MaxRanges: the whole file", many, ""},
		{"many that merge into one are one", overlapping, "bytes=0-204"},
		{"unreadable: left to ServeContent", "bytes=x-1", "bytes=x-1"},
		{"all past the end: left for a 416", "bytes=5000-6000", "bytes=5000-6000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Range": {tc.in}}
			normalizeRanges(h, 1000)
			if got := h.Get("Range"); got != tc.want {
				t.Errorf("Range %q became %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// blockingFile's Read waits for release, and notes a Close that came
// while a Read was still running.
type blockingFile struct {
	reading      chan struct{}
	release      chan struct{}
	inRead       atomic.Bool
	closedInRead atomic.Bool
}

func (f *blockingFile) Read(p []byte) (int, error) {
	f.inRead.Store(true)
	close(f.reading)
	<-f.release
	f.inRead.Store(false)
	return 0, io.EOF
}
func (f *blockingFile) Seek(int64, int) (int64, error) { return 0, nil }
func (f *blockingFile) Size() uint64                   { return 0 }
func (f *blockingFile) Close() error {
	if f.inRead.Load() {
		f.closedInRead.Store(true)
	}
	return nil
}

// ServeContent's multipart goroutine may still be reading when the
// handler closes the file: the close waits for the read.
func TestAFileIsClosedOnlyAfterTheReadInProgress(t *testing.T) {
	f := &blockingFile{reading: make(chan struct{}), release: make(chan struct{})}
	c := &closeAfterReads{f: f}
	read := make(chan struct{})
	go func() { c.Read(make([]byte, 1)); close(read) }()
	<-f.reading
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a Read was in progress")
	case <-time.After(50 * time.Millisecond): // the window in which an unguarded Close would run
	}
	close(f.release)
	<-read
	<-closed
	if f.closedInRead.Load() {
		t.Fatal("the file was closed under a Read")
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a Read after Close succeeded")
	}
}

// nextFile is a file of size zero bytes that counts how its bytes were
// taken: by Read (a copy each) or by Next (none).
type nextFile struct {
	size, off   int
	read, nexts int
	until       int64
}

func (f *nextFile) Read(p []byte) (int, error) {
	b, err := f.Next(len(p))
	f.read += len(b)
	return copy(p, b), err
}
func (f *nextFile) Next(max int) ([]byte, error) {
	if f.off >= f.size {
		return nil, io.EOF
	}
	n := min(max, f.size-f.off, 1<<16)
	f.off += n
	f.nexts++
	return make([]byte, n), nil
}
func (f *nextFile) ReadAheadUntil(n int64)         { f.until = n }
func (f *nextFile) Seek(int64, int) (int64, error) { return 0, nil }
func (f *nextFile) Size() uint64                   { return uint64(f.size) }
func (f *nextFile) Close() error                   { return nil }

// A file served through the wrapper that waits for reads before a close
// is still written from its own buffers, with no copy, and is told where
// the range ends.
func TestAWrappedFileIsWrittenWithoutACopyAndToldTheRangeEnd(t *testing.T) {
	f := &nextFile{size: 1 << 20}
	w := httptest.NewRecorder()
	rec := &recorder{ResponseWriter: w, rc: http.NewResponseController(w), idle: time.Minute}
	n, err := rec.ReadFrom(&io.LimitedReader{R: &closeAfterReads{f: f}, N: 700_000})
	if err != nil || n != 700_000 {
		t.Fatalf("wrote %d bytes (%v), want 700000", n, err)
	}
	if f.read != 0 || f.nexts == 0 {
		t.Errorf("%d bytes copied by Read, %d calls of Next: the body was copied", f.read, f.nexts)
	}
	if f.until != 700_000 {
		t.Errorf("read ahead until %d, want the range's end 700000", f.until)
	}
	if w.Body.Len() != 700_000 {
		t.Errorf("the response has %d bytes", w.Body.Len())
	}
}
