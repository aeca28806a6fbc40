package store_test

import (
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk/store"
	"golang.org/x/sys/unix"
)

// A disk that fills and is freed again: puts fail with ErrNoSpace while it
// is full, and work again once it has room, without a restart (goleveldb's
// index would otherwise keep the first failed write's error for good).
func TestPutsWorkAgainOnceAFullDiskHasRoom(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small file system to fill needs root")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=16m"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	s := openStore(t, filepath.Join(dir, "s"), store.Options{SegmentSize: 4 << 20})
	rng := rand.New(rand.NewSource(1))
	kept, keptData := randomBlock(t, rng, 64<<10)
	if err := s.Put(kept, keptData); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}

	fill := filepath.Join(dir, "fill")
	f, err := os.Create(fill)
	if err != nil {
		t.Fatal(err)
	}
	for buf := make([]byte, 64<<10); ; {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	var failed error
	for i := 0; i < 64 && failed == nil; i++ {
		c, data := randomBlock(t, rng, 64<<10)
		if failed = s.Put(c, data); failed == nil {
			failed = s.Sync()
		}
	}
	if !errors.Is(failed, store.ErrNoSpace) && !errors.Is(failed, syscall.ENOSPC) {
		t.Fatalf("puts on a full disk: %v, want no space", failed)
	}

	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	c, data := randomBlock(t, rng, 64<<10)
	deadline := time.Now().Add(5 * time.Second) // a failed reopen is retried once a second
	for {
		err := s.Put(c, data)
		if err == nil {
			err = s.Sync()
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("put once the disk has room: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	mustGet(t, s, c, data)
	mustGet(t, s, kept, keptData)
}
