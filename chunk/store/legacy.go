package store

import (
	"fmt"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// Before the store carried its caller's metadata, it kept the node's pins
// under "p/" + root CID and replica-duty marks under "d/" + multihash
// itself. Open moves any such entry to the caller keys the node now uses
// ("pin/" + CID, "duty/" + multihash), in one synced batch, so that an
// upgraded repo keeps its pins and duties and a GC removes none of their
// blocks. A crash before the batch leaves the old keys to move again.
var legacyMoves = []struct{ old, caller string }{
	{"p/", "pin/"},
	{"d/", "duty/"},
}

func (s *Store) migrateLegacyMeta() error {
	var b leveldb.Batch
	for _, m := range legacyMoves {
		it := s.db.NewIterator(util.BytesPrefix([]byte(m.old)), nil)
		for it.Next() {
			rest := it.Key()[len(m.old):]
			b.Put(metaKey(append([]byte(m.caller), rest...)), append([]byte(nil), it.Value()...))
			b.Delete(append([]byte(nil), it.Key()...))
		}
		it.Release()
		if err := it.Error(); err != nil {
			return fmt.Errorf("store: migrate %s entries: %w", m.old, err)
		}
	}
	if b.Len() == 0 {
		return nil
	}
	if err := s.db.Write(&b, syncWrite); err != nil {
		return fmt.Errorf("store: migrate pins and duty marks: %w", err)
	}
	s.opts.Logf("store: moved %d pin and duty entries to the node's keys", b.Len()/2)
	return nil
}
