package store_test

import (
	"errors"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cairnstore/cairn/chunk/store"
	"github.com/ipfs/go-cid"
)

// The crash test runs its writer in a child process (this test binary,
// re-executed), which kills itself with SIGKILL at a point the parent
// names: nothing after it runs, no deferred Close, as in a real crash.
const (
	envCrashDir   = "CAIRN_STORE_CRASH_DIR"
	envCrashPoint = "CAIRN_STORE_CRASH_POINT"
	crashBlocks   = 8
	crashSynced   = 3 // blocks synced before the kill point is reached
)

// crashBlock is block i of the crash test, the same in parent and child.
func crashBlock(t *testing.T, i int) (cid.Cid, []byte) {
	t.Helper()
	return randomBlock(t, rand.New(rand.NewSource(int64(100+i))), 1000+i*7000)
}

func killSelf() { syscall.Kill(os.Getpid(), syscall.SIGKILL) }

// TestHelperProcessPutWithThenKill is the child: it does nothing unless the
// parent set envCrashDir.
func TestHelperProcessPutWithThenKill(t *testing.T) {
	dir := os.Getenv(envCrashDir)
	if dir == "" {
		t.Skip("helper process for TestPutWithAndItsMarkSurviveSIGKILLTogether")
	}
	point := os.Getenv(envCrashPoint)
	opts := store.Options{}
	if point == "background-commit-before-index" {
		// Commits start on their own, every block or two; the second one
		// dies between its fdatasync and its index batch.
		opts.CommitEvery = 8 << 10
		n := 0
		store.SetTestHookBeforeIndex(func() {
			if n++; n == 2 {
				killSelf()
			}
		})
	}
	s, err := store.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < crashBlocks; i++ {
		c, data := crashBlock(t, i)
		if err := s.PutWith(c, data, store.Meta{Key: markKey(c), Value: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
		if i == crashSynced-1 && point != "background-commit-before-index" {
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	switch point {
	case "after-put":
		killSelf()
	case "before-index":
		store.SetTestHookBeforeIndex(killSelf)
		s.Sync()
	case "after-sync":
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
		killSelf()
	case "background-commit-before-index":
		// Background commits may have coalesced into fewer than two; each
		// Sync of a fresh block is one more commit, so the hook's second
		// call comes within two of them.
		for i := crashBlocks; i < crashBlocks+2; i++ {
			c, data := crashBlock(t, i)
			s.PutWith(c, data, store.Meta{Key: markKey(c), Value: []byte{byte(i)}})
			s.Sync()
		}
	}
	t.Fatalf("crash point %q: still alive", point)
}

func TestPutWithAndItsMarkSurviveSIGKILLTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	cases := []struct {
		point   string
		atLeast int  // blocks acknowledged (synced) before the kill
		all     bool // every PutWith returned before the kill
	}{
		{"after-put", crashSynced, true},
		{"before-index", crashSynced, true},
		{"after-sync", crashBlocks, true},
		// Dies inside PutWith, in the commit it starts: some blocks are
		// never put at all.
		{"background-commit-before-index", 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.point, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessPutWithThenKill$", "-test.v")
			cmd.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashPoint+"="+tc.point)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("child: %v\n%s", err, out)
			}
			ws, ok := ee.Sys().(syscall.WaitStatus)
			if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child was not killed by SIGKILL: %v\n%s", err, out)
			}

			s := openStore(t, dir, store.Options{})
			held := 0
			for i := 0; i < crashBlocks; i++ {
				c, data := crashBlock(t, i)
				has, err := s.Has(c)
				if err != nil {
					t.Fatal(err)
				}
				marked, err := s.HasMeta(markKey(c))
				if err != nil {
					t.Fatal(err)
				}
				if has != marked {
					t.Fatalf("block %d: held %v but marked %v", i, has, marked)
				}
				if has {
					held++
					mustGet(t, s, c, data)
					mustMeta(t, s, markKey(c), []byte{byte(i)})
				} else if i < tc.atLeast {
					t.Fatalf("block %d was acknowledged before the kill and is lost", i)
				}
			}
			// SIGKILL leaves the page cache alone: every PutWith that
			// returned is whole in the file and is recovered.
			if tc.all && held != crashBlocks {
				t.Fatalf("%d of %d blocks after the kill, want all (their groups were written whole)", held, crashBlocks)
			}
			t.Logf("%d blocks, each with its mark", held)
		})
	}
}

// A group cut anywhere before its last record's end is dropped whole, and
// the file cut at its start: the block never comes back without its meta.
func TestRecoveryDropsAGroupWithoutItsEnd(t *testing.T) {
	rng := rand.New(rand.NewSource(40))
	kept, keptData := randomBlock(t, rng, 3000)
	c, data := randomBlock(t, rng, 5000)
	meta := []store.Meta{
		{Key: markKey(c), Value: []byte("mark")},
		{Key: []byte("other"), Value: []byte("value")},
	}
	blockRec := int64(16 + len(c.Hash()) + len(data))
	meta1Rec := int64(16 + len(meta[0].Key) + len(meta[0].Value))
	meta2Rec := int64(16 + len(meta[1].Key) + len(meta[1].Value))
	group := blockRec + meta1Rec + meta2Rec
	cases := []struct {
		name  string
		keep  int64 // bytes of the group left in the file
		whole bool
	}{
		{"inside the block record", blockRec / 2, false},
		{"after the block record", blockRec, false},
		{"inside the first meta record", blockRec + 5, false},
		{"after the first meta record", blockRec + meta1Rec, false},
		{"one byte short", group - 1, false},
		{"whole", group, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, store.Options{})
			if err := s.PutWith(kept, keptData, store.Meta{Key: markKey(kept)}); err != nil {
				t.Fatal(err)
			}
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
			start := segmentBytes(t, dir)
			if err := s.PutWith(c, data, meta...); err != nil {
				t.Fatal(err)
			}
			if got := segmentBytes(t, dir) - start; got != group {
				t.Fatalf("PutWith wrote %d bytes, want a group of %d", got, group)
			}
			store.Abandon(s)
			if err := os.Truncate(filepath.Join(dir, "00000001.seg"), start+tc.keep); err != nil {
				t.Fatal(err)
			}

			s = openStore(t, dir, store.Options{})
			mustGet(t, s, kept, keptData)
			mustMeta(t, s, markKey(kept), nil)
			has, _ := s.Has(c)
			if has != tc.whole {
				t.Fatalf("block held = %v, want %v", has, tc.whole)
			}
			for _, m := range meta {
				if ok, _ := s.HasMeta(m.Key); ok != tc.whole {
					t.Fatalf("meta %q held = %v, want %v", m.Key, ok, tc.whole)
				}
			}
			want := start
			if tc.whole {
				want += group
			}
			if got := segmentBytes(t, dir); got != want {
				t.Fatalf("segment is %d bytes after recovery, want %d", got, want)
			}
			// Garbage: the committed mark of kept, and the recovered group's
			// meta records if it was whole; nothing of a dropped group.
			wantGarbage := int64(16 + len(markKey(kept)))
			if tc.whole {
				wantGarbage += meta1Rec + meta2Rec
			}
			if st := s.Stats(); st.Garbage != wantGarbage {
				t.Fatalf("garbage %d after recovery, want %d", st.Garbage, wantGarbage)
			}
		})
	}
}
