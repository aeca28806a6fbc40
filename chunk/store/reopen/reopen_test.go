package reopen

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"
)

type fakeDB struct {
	id     int
	closed bool
}

func (f *fakeDB) Close() error { f.closed = true; return nil }

func TestAWriteFailingForSpaceReopensOnceAndOtherErrorsDoNot(t *testing.T) {
	opens, failOpen := 0, false
	h, err := Open("fake", func() (*fakeDB, error) {
		if failOpen {
			return nil, syscall.ENOSPC
		}
		opens++
		return &fakeDB{id: opens}, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, gen, _ := h.Get()
	if err := h.Failed(gen, errors.New("bad key")); err == nil || opens != 1 {
		t.Fatalf("an error goleveldb does not keep reopened the database (%d opens)", opens)
	}
	full := fmt.Errorf("write 000001.log: %w", syscall.ENOSPC)
	if err := h.Failed(gen, full); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Failed returned %v, want the write's error", err)
	}
	second, gen2, err := h.Get()
	if err != nil || !first.closed || second.id != 2 || gen2 == gen {
		t.Fatalf("after a full disk: %+v gen %d (%v); the first closed: %v", second, gen2, err, first.closed)
	}
	// A second write that failed on the first database leaves the new one.
	h.Failed(gen, full)
	if third, _, _ := h.Get(); third != second || opens != 2 {
		t.Fatalf("a late failure on the old database reopened again (%d opens)", opens)
	}

	// While reopening fails, calls fail, and it is retried at most once a
	// second.
	failOpen = true
	h.Failed(gen2, full)
	if _, _, err := h.Get(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Get while reopening fails: %v", err)
	}
	failOpen = false
	if _, _, err := h.Get(); err == nil {
		t.Fatal("reopened again within a second of a failed try")
	}
	h.mu.Lock()
	h.lastTry = time.Now().Add(-time.Second)
	h.mu.Unlock()
	if d, _, err := h.Get(); err != nil || d.id != 3 {
		t.Fatalf("after a second: %+v, %v", d, err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Get(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
}
