package node

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/node/repo"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	carstorage "github.com/ipld/go-car/v2/storage"
)

// FuzzImportCAR imports any bytes as a CAR into one repo: never a panic,
// and an import that fails pins nothing.
func FuzzImportCAR(f *testing.F) {
	data := []byte("a block")
	c, err := chunk.NewCID(chunk.SHA2_256, cid.Raw, data)
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := carstorage.NewWritable(&buf, []cid.Cid{c}, carv2.WriteAsCarV1(true))
	if err != nil {
		f.Fatal(err)
	}
	w.Put(context.Background(), c.KeyString(), data)
	f.Add(buf.Bytes())
	f.Add([]byte{0x0a, 0xa1, 0x67, 0x76, 0x65, 0x72})
	dir := filepath.Join(f.TempDir(), "repo")
	if _, err := repo.Init(dir, repo.InitOptions{}); err != nil {
		f.Fatal(err)
	}
	r, err := repo.Open(dir)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { r.Close() })
	l, err := OpenLocal(r)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Close() })
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, car []byte) {
		before, err := l.Pins(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.ImportCAR(ctx, bytes.NewReader(car), true); err == nil {
			return
		} else if errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		after, err := l.Pins(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != len(before) {
			t.Fatalf("a failed import pinned %d roots", len(after)-len(before))
		}
	})
}
