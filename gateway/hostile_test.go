package gateway_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/gateway"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	carstorage "github.com/ipld/go-car/v2/storage"
	"google.golang.org/protobuf/encoding/protowire"
)

type namedLink struct {
	name string
	c    cid.Cid
}

// pbNode encodes a dag-pb node with UnixFS data fsData and named links,
// as kubo lays them out (links first); it is not checked.
func pbNode(t *testing.T, fsData []byte, links []namedLink) (cid.Cid, []byte) {
	t.Helper()
	var out, lb []byte
	for _, l := range links {
		lb = protowire.AppendTag(lb[:0], 1, protowire.BytesType)
		lb = protowire.AppendBytes(lb, l.c.Bytes())
		lb = protowire.AppendTag(lb, 2, protowire.BytesType)
		lb = protowire.AppendString(lb, l.name)
		lb = protowire.AppendTag(lb, 3, protowire.VarintType)
		lb = protowire.AppendVarint(lb, 10)
		out = protowire.AppendTag(out, 2, protowire.BytesType)
		out = protowire.AppendBytes(out, lb)
	}
	out = protowire.AppendTag(out, 1, protowire.BytesType)
	out = protowire.AppendBytes(out, fsData)
	c, err := chunk.NewCID(chunk.SHA2_256, cid.DagProtobuf, out)
	if err != nil {
		t.Fatal(err)
	}
	return c, out
}

// unixfs encodes UnixFS data: its type, and for a HAMT shard a bitfield,
// the hash function and a fanout.
func unixfs(typ uint64, bitfield []byte, fanout uint64) []byte {
	var fs []byte
	fs = protowire.AppendTag(fs, 1, protowire.VarintType)
	fs = protowire.AppendVarint(fs, typ)
	if bitfield != nil {
		fs = protowire.AppendTag(fs, 2, protowire.BytesType)
		fs = protowire.AppendBytes(fs, bitfield)
		fs = protowire.AppendTag(fs, 5, protowire.VarintType)
		fs = protowire.AppendVarint(fs, 0x22)
		fs = protowire.AppendTag(fs, 6, protowire.VarintType)
		fs = protowire.AppendVarint(fs, fanout)
	}
	return fs
}

func carOf(t *testing.T, root cid.Cid, blocks ...[2][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := carstorage.NewWritable(&buf, []cid.Cid{root}, carv2.WriteAsCarV1(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		c, _ := cid.Cast(b[0])
		if err := w.Put(context.Background(), c.KeyString(), b[1]); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func blk(c cid.Cid, data []byte) [2][]byte { return [2][]byte{c.Bytes(), data} }

// Bad input gets a 4xx, never a 5xx, and pins nothing: CARs with bad
// blocks, malformed HAMTs, names that are not names, paths through files.
func TestHostileCARsAndPathsGet4xx(t *testing.T) {
	srv, n := newGateway(t, func(c *gateway.Config) { c.MaxUploadSize = 8 << 20 })
	leaf := []byte("a leaf")
	leafCID, _ := chunk.NewCID(chunk.SHA2_256, cid.Raw, leaf)
	big := make([]byte, chunk.MaxBlockSize+1)
	bigCID, _ := chunk.NewCID(chunk.SHA2_256, cid.Raw, big)
	wide, wideData := pbNode(t, unixfs(chunk.TypeHAMTShard, make([]byte, 64), 256), nil) // bitfield of 512 bits
	odd, oddData := pbNode(t, unixfs(chunk.TypeHAMTShard, []byte{1}, 100), []namedLink{{"00x", leafCID}})
	names, namesData := pbNode(t, unixfs(chunk.TypeDirectory, nil, 0), []namedLink{
		{"..", leafCID}, {"a/b", leafCID}, {"ok", leafCID}, {"x\x00y", leafCID}})
	good := carOf(t, names, blk(names, namesData), blk(leafCID, leaf))

	pinsBefore := clusterPins(t, n)
	for _, tc := range []struct {
		name string
		car  []byte
	}{
		{"a block that does not match its CID", carOf(t, leafCID, blk(leafCID, []byte("not the leaf")))},
		{"a truncated CAR", good[:len(good)-3]},
		{"a block over 1 MiB", carOf(t, bigCID, blk(bigCID, big))},
		{"a HAMT whose bitfield is wider than its fanout", carOf(t, wide, blk(wide, wideData))},
		{"a HAMT with a fanout that is not a power of two", carOf(t, odd, blk(odd, oddData), blk(leafCID, leaf))},
		{"not a CAR", []byte("GET / HTTP/1.1")},
	} {
		resp, body := do(t, "POST", srv.URL+"/api/v1/dag/import", testToken, bytes.NewReader(tc.car))
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", tc.name, resp.StatusCode, body)
		}
	}
	if pins := clusterPins(t, n); pins != pinsBefore {
		t.Errorf("refused imports pinned %d roots", pins-pinsBefore)
	}

	// A folder with names no file system should take is stored (it is
	// valid dag-pb), listed with its names escaped, and never resolved
	// through them.
	if resp, body := do(t, "POST", srv.URL+"/api/v1/dag/import", testToken, bytes.NewReader(good)); resp.StatusCode != http.StatusOK {
		t.Fatalf("import of a folder with odd names: %d %s", resp.StatusCode, body)
	}
	base := srv.URL + "/ipfs/" + names.String()
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/", http.StatusOK},
		{"/ok", http.StatusOK},
		{"/a%2Fb", http.StatusNotFound},
		{"/x%00y", http.StatusNotFound},
		{"/ok/deeper", http.StatusNotFound},
		{"/nope", http.StatusNotFound},
	} {
		resp, body := get(t, base+tc.path)
		if resp.StatusCode != tc.status || resp.StatusCode >= 500 {
			t.Errorf("GET %s: %d %s, want %d", tc.path, resp.StatusCode, body, tc.status)
		}
		if tc.path == "/" && strings.Contains(body, "\x00") {
			t.Errorf("listing holds a raw NUL")
		}
	}
}
