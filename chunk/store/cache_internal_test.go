package store

import (
	"math/rand"
	"os"
	"testing"
	"unsafe"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
	"golang.org/x/sys/unix"
)

// resident reports which of a file's pages are in the page cache.
func resident(t *testing.T, path string) []bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	page := os.Getpagesize()
	vec := make([]byte, (len(m)+page-1)/page)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	out := make([]bool, len(vec))
	for i, v := range vec {
		out[i] = v&1 != 0
	}
	return out
}

func TestTheLastWrittenCacheBytesStayInThePageCacheAndOlderOnesGo(t *testing.T) {
	const mib = 1 << 20
	dir := t.TempDir()
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err == nil && fs.Type == unix.TMPFS_MAGIC {
		t.Skip("the temporary directory is on tmpfs, whose pages cannot be dropped")
	}
	s, err := Open(dir, Options{WrittenCache: 2 * mib})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewSource(3))
	for range 6 { // six commits of 1 MiB
		for range 4 {
			data := make([]byte, mib/4)
			rng.Read(data)
			c, err := chunk.NewCID(chunk.SHA2_256, cid.Raw, data)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Put(c, data); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if s.cachedBytes > 2*mib || s.cachedBytes < mib {
		t.Fatalf("%d bytes listed as cached, budget %d", s.cachedBytes, 2*mib)
	}
	var sg *segment
	for _, g := range s.segs {
		sg = g
	}
	res := resident(t, s.segPath(sg.id))
	page := os.Getpagesize()
	count := func(from, to int) (n int) {
		for _, r := range res[from/page : min(to/page, len(res))] {
			if r {
				n++
			}
		}
		return n
	}
	total := len(res) * page
	if n := count(0, 2*mib); n > 2*mib/page/10 {
		t.Errorf("%d pages of the first 2 MiB still cached: older commits should be dropped", n)
	}
	if n, want := count(total-mib, total), mib/page; n < want*9/10 {
		t.Errorf("%d of the last MiB's %d pages cached: the newest commit should stay", n, want)
	}
}
