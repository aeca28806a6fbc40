package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/chunk/store"
	"github.com/ipfs/go-cid"
)

func openStore(t *testing.T, dir string, opts store.Options) *store.Store {
	t.Helper()
	s, err := store.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func randomBlock(t *testing.T, rng *rand.Rand, size int) (cid.Cid, []byte) {
	t.Helper()
	data := make([]byte, size)
	rng.Read(data)
	c, err := chunk.NewCID(chunk.SHA2_256, cid.Raw, data)
	if err != nil {
		t.Fatal(err)
	}
	return c, data
}

func mustGet(t *testing.T, s *store.Store, c cid.Cid, want []byte) {
	t.Helper()
	got, err := s.Get(context.Background(), c)
	if err != nil {
		t.Fatalf("get %s: %v", c, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("get %s: %d bytes differ from the %d put", c, len(got), len(want))
	}
}

func segmentBytes(t *testing.T, dir string) int64 {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	var n int64
	for _, name := range names {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

func TestPutThenGetReturnsTheBytesAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, store.Options{})
	rng := rand.New(rand.NewSource(1))
	blocks := map[cid.Cid][]byte{}
	for _, size := range []int{0, 1, 1000, chunk.ChunkSize, chunk.MaxBlockSize} {
		c, data := randomBlock(t, rng, size)
		if err := s.Put(c, data); err != nil {
			t.Fatal(err)
		}
		blocks[c] = data
		mustGet(t, s, c, data) // readable before it is committed
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, store.Options{})
	for c, data := range blocks {
		mustGet(t, s, c, data)
	}
	if st := s.Stats(); st.Blocks != int64(len(blocks)) {
		t.Fatalf("stats say %d blocks, want %d", st.Blocks, len(blocks))
	}
}

func TestSameMultihashUnderTwoCodecsIsStoredOnce(t *testing.T) {
	s := openStore(t, t.TempDir(), store.Options{})
	data := []byte("same bytes")
	raw, _ := chunk.NewCID(chunk.SHA2_256, cid.Raw, data)
	pb := cid.NewCidV1(cid.DagProtobuf, raw.Hash())
	if err := s.PutHashed(raw, data); err != nil {
		t.Fatal(err)
	}
	before := s.Stats()
	if err := s.PutHashed(pb, data); err != nil {
		t.Fatal(err)
	}
	if after := s.Stats(); after != before {
		t.Fatalf("second put changed the store: %+v -> %+v", before, after)
	}
	mustGet(t, s, pb, data)
}

func TestPutRefusesBadBlocksAndChangesNothing(t *testing.T) {
	s := openStore(t, t.TempDir(), store.Options{})
	big := make([]byte, chunk.MaxBlockSize+1)
	bigCID, _ := chunk.NewCID(chunk.SHA2_256, cid.Raw, big)
	good := []byte("good bytes")
	goodCID, _ := chunk.NewCID(chunk.SHA2_256, cid.Raw, good)
	garbage := []byte{0x0a, 0xff, 0xff, 0x01}
	garbageCID, _ := chunk.NewCID(chunk.SHA2_256, cid.DagProtobuf, garbage)

	// A real inner node, then its truncation, named by its own hash.
	sink := &mapSink{m: map[cid.Cid][]byte{}}
	res, err := chunk.Add(context.Background(), bytes.NewReader(make([]byte, 3*chunk.ChunkSize)), sink, chunk.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node := sink.m[res.Root]
	truncated := node[:len(node)-3]
	truncCID, _ := chunk.NewCID(chunk.SHA2_256, cid.DagProtobuf, truncated)

	cases := []struct {
		name string
		c    cid.Cid
		data []byte
		want error
	}{
		{"over 1 MiB", bigCID, big, chunk.ErrTooLarge},
		{"bytes not matching the CID", goodCID, []byte("other bytes"), chunk.ErrHashMismatch},
		{"garbage dag-pb", garbageCID, garbage, chunk.ErrBadNode},
		{"truncated dag-pb", truncCID, truncated, chunk.ErrBadNode},
	}
	before := s.Stats()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Put(tc.c, tc.data)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Put = %v, want %v", err, tc.want)
			}
			if ok, _ := s.Has(tc.c); ok {
				t.Fatal("refused block is in the store")
			}
			if after := s.Stats(); after != before {
				t.Fatalf("refused put changed the store: %+v -> %+v", before, after)
			}
		})
	}
}

type mapSink struct {
	mu sync.Mutex
	m  map[cid.Cid][]byte
}

func (m *mapSink) PutHashed(c cid.Cid, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[c] = append([]byte(nil), data...)
	return nil
}

func TestFlippedByteGivesCorruptionErrorAndVerifyNamesTheBlock(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, store.Options{})
	rng := rand.New(rand.NewSource(2))
	var cids []cid.Cid
	var datas [][]byte
	for i := 0; i < 5; i++ {
		c, data := randomBlock(t, rng, 4096)
		if err := s.Put(c, data); err != nil {
			t.Fatal(err)
		}
		cids, datas = append(cids, c), append(datas, data)
	}
	s.Close()

	// Records are laid out in put order; flip a byte inside block 2's data.
	seg := filepath.Join(dir, "00000001.seg")
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	recLen := int64(16 + len(cids[0].Hash()) + 4096)
	off := 2*recLen + recLen - 100
	b := make([]byte, 1)
	f.ReadAt(b, off)
	b[0] ^= 0x40
	f.WriteAt(b, off)
	f.Close()

	s = openStore(t, dir, store.Options{})
	_, err = s.Get(context.Background(), cids[2])
	if !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Get of rotted block = %v, want ErrCorrupt", err)
	}
	for i, c := range cids {
		if i != 2 {
			mustGet(t, s, c, datas[i])
		}
	}
	res, err := s.Verify(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Checked != 5 || len(res.Failed) != 1 || !bytes.Equal(res.Failed[0].Hash, cids[2].Hash()) {
		t.Fatalf("verify checked %d, failed %v; want 5 checked and only %s failed", res.Checked, res.Failed, cids[2])
	}
}

func TestDeleteAndCompactShrinkSegmentsAndKeepTheRest(t *testing.T) {
	dir := t.TempDir()
	opts := store.Options{SegmentSize: 2 << 20}
	s := openStore(t, dir, opts)
	rng := rand.New(rand.NewSource(3))
	kept := map[cid.Cid][]byte{}
	var deleted []cid.Cid
	for i := 0; i < 60; i++ {
		c, data := randomBlock(t, rng, 100<<10)
		if err := s.Put(c, data); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			kept[c] = data
		} else {
			deleted = append(deleted, c)
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	before := segmentBytes(t, dir)
	for _, c := range deleted {
		if err := s.Delete(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(deleted[0]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete = %v, want ErrNotFound", err)
	}
	if st := s.Stats(); st.Garbage == 0 {
		t.Fatal("deletes left no garbage to reclaim")
	}
	cs, err := s.Compact(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	after := segmentBytes(t, dir)
	if after >= before*2/3 {
		t.Fatalf("segments went from %d to %d bytes after deleting 2/3 and compacting (%+v)", before, after, cs)
	}
	check := func(s *store.Store) {
		t.Helper()
		for c, data := range kept {
			mustGet(t, s, c, data)
		}
		for _, c := range deleted {
			if ok, _ := s.Has(c); ok {
				t.Fatalf("deleted block %s came back", c)
			}
		}
		if st := s.Stats(); st.Blocks != int64(len(kept)) || st.Garbage != 0 {
			t.Fatalf("stats %+v, want %d blocks and no garbage", st, len(kept))
		}
	}
	check(s)
	s.Close()
	s = openStore(t, dir, opts)
	check(s)
}

func TestReopenAfterCrashIndexesWholeRecordsAndCutsTornTail(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, store.Options{})
	rng := rand.New(rand.NewSource(4))
	acked := map[cid.Cid][]byte{}
	for i := 0; i < 4; i++ {
		c, data := randomBlock(t, rng, 5000)
		s.Put(c, data)
		acked[c] = data
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	unacked, data := randomBlock(t, rng, 5000)
	s.Put(unacked, data)
	store.Abandon(s)

	// A torn record: a valid header promising more data than follows.
	seg := filepath.Join(dir, "00000001.seg")
	whole, _ := os.ReadFile(seg)
	f, _ := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(whole[:16+34+100])
	f.Close()

	s = openStore(t, dir, store.Options{})
	for c, d := range acked {
		mustGet(t, s, c, d)
	}
	mustGet(t, s, unacked, data) // written whole before the crash: recovered
	if got, want := segmentBytes(t, dir), int64(len(whole)); got != want {
		t.Fatalf("segment is %d bytes after recovery, want the torn tail cut to %d", got, want)
	}
	res, err := s.Verify(context.Background(), nil)
	if err != nil || len(res.Failed) != 0 || res.Checked != 5 {
		t.Fatalf("verify after recovery: %+v, %v", res, err)
	}
}

func TestCapacityRefusesPutsPastTheLimit(t *testing.T) {
	s := openStore(t, t.TempDir(), store.Options{Capacity: 300 << 10})
	rng := rand.New(rand.NewSource(5))
	c, data := randomBlock(t, rng, 200<<10)
	if err := s.Put(c, data); err != nil {
		t.Fatal(err)
	}
	before := s.Stats()
	c2, data2 := randomBlock(t, rng, 200<<10)
	if err := s.Put(c2, data2); !errors.Is(err, store.ErrFull) {
		t.Fatalf("put past capacity = %v, want ErrFull", err)
	}
	if after := s.Stats(); after != before {
		t.Fatalf("refused put changed the store: %+v -> %+v", before, after)
	}
}

func TestConcurrentPutGetDeleteCompact(t *testing.T) {
	s := openStore(t, t.TempDir(), store.Options{SegmentSize: 1 << 20 * 2, CommitEvery: 256 << 10})
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			for i := 0; i < 50; i++ {
				c, data := randomBlock(t, rng, 1+rng.Intn(64<<10))
				mark := store.Meta{Key: append([]byte("duty/"), c.Hash()...)}
				if err := s.PutWith(c, data, mark); err != nil {
					errc <- err
					return
				}
				got, err := s.Get(context.Background(), c)
				if err != nil || !bytes.Equal(got, data) {
					errc <- fmt.Errorf("get %s after put: %v", c, err)
					return
				}
				if ok, err := s.HasMeta(mark.Key); err != nil || !ok {
					errc <- fmt.Errorf("mark of %s after put: %v, %v", c, ok, err)
					return
				}
				if i%2 == 0 {
					mark.Delete = true
					if err := s.Delete(c, mark); err != nil {
						errc <- err
						return
					}
				}
			}
		}(w)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 5; i++ {
			if _, err := s.Compact(context.Background(), 0); err != nil {
				errc <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Blocks != 100 {
		t.Fatalf("stats say %d blocks, want 100 (4 writers x 25 kept)", st.Blocks)
	}
	res, err := s.Verify(context.Background(), nil)
	if err != nil || len(res.Failed) != 0 || res.Checked != 100 {
		t.Fatalf("verify: %+v, %v", res, err)
	}
	if marks := metaList(t, s, "duty/"); len(marks) != 100 {
		t.Fatalf("%d marks, want one per kept block", len(marks))
	}
}

func TestBlockDeletedBeforeItsCommitStaysDeletedAfterReopenAndCrash(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprintf("crash=%v", crash), func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, store.Options{})
			rng := rand.New(rand.NewSource(6))
			gone, data := randomBlock(t, rng, 1000)
			kept, keptData := randomBlock(t, rng, 1000)
			s.Put(gone, data)
			s.Put(kept, keptData)
			if err := s.Delete(gone); err != nil {
				t.Fatal(err)
			}
			if crash {
				store.Abandon(s)
			} else if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openStore(t, dir, store.Options{})
			if ok, _ := s.Has(gone); ok {
				t.Fatal("deleted block came back")
			}
			mustGet(t, s, kept, keptData)
			if st := s.Stats(); st.Blocks != 1 || st.Garbage == 0 {
				t.Fatalf("stats %+v, want 1 block and the deleted record as garbage", st)
			}
		})
	}
}

func TestSegmentSizeSmallerThanABlockStillStoresIt(t *testing.T) {
	s := openStore(t, t.TempDir(), store.Options{SegmentSize: 1 << 20})
	rng := rand.New(rand.NewSource(8))
	for i := 0; i < 3; i++ {
		c, data := randomBlock(t, rng, chunk.MaxBlockSize)
		if err := s.Put(c, data); err != nil {
			t.Fatal(err)
		}
		mustGet(t, s, c, data)
	}
	if st := s.Stats(); st.Segments != 3 {
		t.Fatalf("%d segments, want one per maximal block", st.Segments)
	}
}

func TestSizeReadsABlocksLengthFromTheIndexPendingOrCommitted(t *testing.T) {
	s := openStore(t, t.TempDir(), store.Options{})
	rng := rand.New(rand.NewSource(7))
	c, data := randomBlock(t, rng, 12345)
	if _, err := s.Size(c.Hash()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("size of a block not held: %v, want ErrNotFound", err)
	}
	if err := s.Put(c, data); err != nil {
		t.Fatal(err)
	}
	for _, when := range []string{"pending", "committed"} {
		if n, err := s.Size(c.Hash()); err != nil || n != int64(len(data)) {
			t.Fatalf("%s: size %d (%v), want %d", when, n, err, len(data))
		}
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestABlockIsDurableOnlyOnceCommitted(t *testing.T) {
	s := openStore(t, t.TempDir(), store.Options{})
	c, data := randomBlock(t, rand.New(rand.NewSource(5)), 4096)
	if err := s.Put(c, data); err != nil {
		t.Fatal(err)
	}
	has, _ := s.Has(c)
	durable, err := s.Durable(c)
	if !has || durable || err != nil {
		t.Fatalf("written, not committed: has %v, durable %v (%v); want held, not durable", has, durable, err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if durable, err := s.Durable(c); !durable || err != nil {
		t.Fatalf("committed: durable %v (%v)", durable, err)
	}
	if err := s.Delete(c); err != nil {
		t.Fatal(err)
	}
	if durable, err := s.Durable(c); durable || err != nil {
		t.Fatalf("deleted: durable %v (%v)", durable, err)
	}
}
