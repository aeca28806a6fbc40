package store_test

import (
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk/store"
	"github.com/ipfs/go-cid"
)

func TestConcurrentSyncsShareOneCommitAndAllBecomeDurable(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, store.Options{})
	const writers = 32
	var commits atomic.Int32
	release := make(chan struct{})
	first := make(chan struct{})
	store.SetTestHookBeforeIndex(func() {
		if commits.Add(1) == 1 {
			close(first)
			<-release // hold the first commit while the others queue up
		}
	})
	defer store.SetTestHookBeforeIndex(nil)

	rng := rand.New(rand.NewSource(1))
	cids := make([]cid.Cid, writers)
	blocks := make([][]byte, writers)
	for i := range cids {
		cids[i], blocks[i] = randomBlock(t, rng, 1024)
	}
	errs := make(chan error, writers)
	var started sync.WaitGroup
	put := func(i int) {
		if err := s.Put(cids[i], blocks[i]); err != nil {
			errs <- err
			return
		}
		errs <- s.Sync(store.Meta{Key: []byte(fmt.Sprintf("mark%02d", i)), Value: []byte{byte(i)}})
	}
	go put(0)
	<-first
	for i := 1; i < writers; i++ {
		started.Add(1)
		go func() { started.Done(); put(i) }()
	}
	started.Wait()
	// The others are queued behind the held commit once their puts are
	// pending; poll until all have put (Stats counts pending blocks).
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Blocks < writers && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // poll interval
	}
	close(release)
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := commits.Load(); n > 3 {
		t.Fatalf("%d concurrent Syncs took %d commits; they should share them", writers, n)
	}
	s.Close()
	s = openStore(t, dir, store.Options{})
	for i := range cids {
		mustGet(t, s, cids[i], blocks[i])
		v, err := s.GetMeta([]byte(fmt.Sprintf("mark%02d", i)))
		if err != nil || len(v) != 1 || v[0] != byte(i) {
			t.Fatalf("meta of writer %d after reopening: %v %v", i, v, err)
		}
	}
}
