package store_test

import (
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"github.com/cairnstore/cairn/chunk/store"
	"github.com/ipfs/go-cid"
	"golang.org/x/sys/unix"
)

// residentShare is the share of dir's segment file pages in the page cache.
func residentShare(t *testing.T, dir string) float64 {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	var in, all int
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := f.Stat()
		if err != nil || fi.Size() == 0 {
			f.Close()
			continue
		}
		m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		vec := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
		_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0])))
		unix.Munmap(m)
		if errno != 0 {
			t.Fatal(errno)
		}
		for _, v := range vec {
			in += int(v & 1)
		}
		all += len(vec)
	}
	if all == 0 {
		t.Fatal("no segment pages")
	}
	return float64(in) / float64(all)
}

func TestCommittedBlocksLeaveThePageCacheAndWillNeedBringsThemBack(t *testing.T) {
	var fs unix.Statfs_t
	if err := unix.Statfs(os.TempDir(), &fs); err == nil && fs.Type == unix.TMPFS_MAGIC {
		t.Skip("on tmpfs the page cache is the storage")
	}
	for _, keep := range []bool{false, true} {
		dir := t.TempDir()
		s := openStore(t, dir, store.Options{KeepWrittenCache: keep})
		rng := rand.New(rand.NewSource(7))
		var cids []cid.Cid
		for range 8 {
			c, data := randomBlock(t, rng, 256<<10)
			if err := s.Put(c, data); err != nil {
				t.Fatal(err)
			}
			cids = append(cids, c)
		}
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
		share := residentShare(t, dir)
		if keep && share < 0.9 || !keep && share > 0.1 {
			t.Fatalf("KeepWrittenCache %v: %.0f%% of the segment cached after the commit", keep, 100*share)
		}
		if keep {
			continue
		}
		s.WillNeed(cids)
		deadline := time.Now().Add(10 * time.Second)
		for residentShare(t, dir) < 0.9 {
			if time.Now().After(deadline) {
				t.Fatalf("WillNeed: %.0f%% of the segment cached after 10s", 100*residentShare(t, dir))
			}
			time.Sleep(10 * time.Millisecond) // poll interval
		}
	}
}
