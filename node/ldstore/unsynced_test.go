package ldstore

import (
	"context"
	"path/filepath"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

func TestUnsyncedWritesReadBackThroughTheDatastoreAndAfterReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	db, err := Open(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := db.Unsynced()
	if err := u.Put(ctx, ds.NewKey("/keystore/a"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := u.Put(ctx, ds.NewKey("/keystore/gone"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	b, err := u.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.Put(ctx, ds.NewKey("/keystore/b"), []byte("2"))
	b.Delete(ctx, ds.NewKey("/keystore/gone"))
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Datastore().Query(ctx, dsq.Query{Prefix: "/keystore"})
	if err != nil {
		t.Fatal(err)
	}
	all, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range all {
		got[e.Key] = string(e.Value)
	}
	want := map[string]string{"/keystore/a": "1", "/keystore/b": "2"}
	if len(got) != len(want) || got["/keystore/a"] != "1" || got["/keystore/b"] != "2" {
		t.Fatalf("after reopen: %v, want %v", got, want)
	}
}
