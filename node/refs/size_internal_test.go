package refs

import (
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"github.com/syndtr/goleveldb/leveldb"
)

func TestBatchSizeIsNeverBelowTheBatchAddManyBuilds(t *testing.T) {
	sum := func(s string) mh.Multihash {
		h, err := mh.Sum([]byte(s), mh.SHA2_256, -1)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	for _, n := range []int{0, 1, pageSize - 1, pageSize, 3*pageSize + 7, 20_000} {
		e := Entry{Root: cid.NewCidV1(cid.DagProtobuf, sum(fmt.Sprint("root", n)))}
		for i := 0; i < n; i++ {
			e.Keys = append(e.Keys, sum(fmt.Sprint(n, i)))
		}
		var b leveldb.Batch
		b.Put(rootKey(e.Root), make([]byte, 8))
		addKeys(&b, e.Root, e.Keys)
		if got, bound := len(b.Dump()), batchSize([]Entry{e}); got > bound {
			t.Errorf("%d keys: batch of %d bytes, sized for %d", n, got, bound)
		}
	}
}
