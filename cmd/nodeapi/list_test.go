package nodeapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/gateway"
	"github.com/ipfs/go-cid"
)

func TestListDescribesOnlyTheEntriesItIsAskedTo(t *testing.T) {
	mk := func(codec uint64, s string) cid.Cid {
		c, err := chunk.NewCID(chunk.SHA2_256, codec, []byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	entries := []chunk.DirEntry{
		{Name: "a", CID: mk(cid.DagProtobuf, "a"), Tsize: 10},
		{Name: "b", CID: mk(cid.Raw, "b"), Tsize: 20},
		{Name: "c", CID: mk(cid.DagProtobuf, "c"), Tsize: 30},
		{Name: "d", CID: mk(cid.Raw, "d"), Tsize: 40},
	}
	each := func(fn func(chunk.DirEntry) error) error {
		for _, e := range entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}
	for _, tc := range []struct {
		describe, inspected int
		want                []gateway.DirEntry // Name, Type, Size
	}{
		{0, 4, []gateway.DirEntry{{Name: "a", Type: "directory", Size: 1}, {Name: "b", Type: "file", Size: 1}, {Name: "c", Type: "directory", Size: 1}, {Name: "d", Type: "file", Size: 1}}},
		{2, 2, []gateway.DirEntry{{Name: "a", Type: "directory", Size: 1}, {Name: "b", Type: "file", Size: 1}, {Name: "c", Type: "", Size: 30}, {Name: "d", Type: "file", Size: 40}}},
		{9, 4, []gateway.DirEntry{{Name: "a", Type: "directory", Size: 1}, {Name: "b", Type: "file", Size: 1}, {Name: "c", Type: "directory", Size: 1}, {Name: "d", Type: "file", Size: 1}}},
	} {
		t.Run(fmt.Sprint("describe ", tc.describe), func(t *testing.T) {
			var inspected atomic.Int32 // inspect runs concurrently
			inspect := func(_ context.Context, c cid.Cid) (chunk.Stat, error) {
				inspected.Add(1)
				if c.Type() == cid.Raw {
					return chunk.Stat{CID: c, RootType: "raw", Size: 1}, nil
				}
				return chunk.Stat{CID: c, RootType: "directory", Cumulative: 1}, nil
			}
			got, err := list(context.Background(), mk(cid.DagProtobuf, "dir"), tc.describe, each, inspect)
			if err != nil {
				t.Fatal(err)
			}
			if int(inspected.Load()) != tc.inspected || len(got) != len(tc.want) {
				t.Fatalf("inspected %d, listed %d; want %d and %d", inspected.Load(), len(got), tc.inspected, len(tc.want))
			}
			for i, w := range tc.want {
				if got[i].Name != w.Name || got[i].Type != w.Type || got[i].Size != w.Size || got[i].CID != entries[i].CID.String() {
					t.Errorf("entry %d: %+v, want %+v", i, got[i], w)
				}
			}
		})
	}
}

func TestListFailsWithTheFirstEntryThatCannotBeDescribed(t *testing.T) {
	var entries []chunk.DirEntry
	for i := range 100 {
		c, err := chunk.NewCID(chunk.SHA2_256, cid.Raw, []byte(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, chunk.DirEntry{Name: fmt.Sprint(i), CID: c})
	}
	each := func(fn func(chunk.DirEntry) error) error {
		for _, e := range entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}
	bad := errors.New("no provider")
	inspect := func(ctx context.Context, c cid.Cid) (chunk.Stat, error) {
		if c == entries[37].CID || c == entries[80].CID {
			return chunk.Stat{}, bad
		}
		return chunk.Stat{CID: c, RootType: "raw"}, ctx.Err()
	}
	got, err := list(context.Background(), entries[0].CID, 0, each, inspect)
	if !errors.Is(err, bad) || got != nil || !strings.Contains(err.Error(), ": 37: ") {
		t.Fatalf("list with entries 37 and 80 failing: %d entries, %v (want entry 37's error)", len(got), err)
	}
}
