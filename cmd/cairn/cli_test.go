package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cairnstore/cairn/chunk/chunktest"
	"github.com/cairnstore/cairn/node/repo"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

func readTSV(t *testing.T, name string) [][]string {
	t.Helper()
	rows, err := chunktest.ReadTable(name)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestAddOnlyHashPrintsKuboCIDsForEveryVector(t *testing.T) {
	for _, row := range readTSV(t, "vectors.tsv") {
		size, _ := strconv.ParseInt(row[0], 10, 64)
		if testing.Short() && size > 50<<20 {
			continue
		}
		data, err := chunktest.Input(size, row[1])
		if err != nil {
			t.Fatal(err)
		}
		r := mustCairn(t, "", nil, "add", "--only-hash", writeFile(t, data))
		if got := r.lastLine(); got != row[2] {
			t.Errorf("size %d: add --only-hash printed %s, kubo gives %s", size, got, row[2])
		}
	}
	for _, row := range readTSV(t, "vectors-blake3.tsv") {
		size, _ := strconv.ParseInt(row[0], 10, 64)
		r := mustCairn(t, "", nil, "add", "--only-hash", "--hash", "blake3", writeFile(t, vectorBytes(size)))
		if got := r.lastLine(); got != row[1] {
			t.Errorf("blake3 size %d: add --only-hash printed %s, kubo gives %s", size, got, row[1])
		}
	}
}

func TestAddOnlyHashWorksWhileTheRepoIsLocked(t *testing.T) {
	dir := newRepo(t)
	held, err := repo.Open(dir) // as a daemon would hold it
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	in := writeFile(t, []byte("hello world\n"))
	if r := cairn(t, dir, nil, "add", "--only-hash", in); r.code != 0 || r.lastLine() != "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4" {
		t.Fatalf("add --only-hash on a locked repo: %+v", r)
	}
	if r := cairn(t, dir, nil, "add", in); r.code == 0 || !strings.Contains(r.stderr, "locked") {
		t.Fatalf("add on a locked repo: %+v, want a lock error", r)
	}
}

func TestAddThenCatAndGetReturnIdenticalBytes(t *testing.T) {
	dir := newRepo(t)
	cases := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", []byte{7}},
		{"262143", vectorBytes(262143)},
		{"262144", vectorBytes(262144)},
		{"262145", vectorBytes(262145)},
		{"multi-level 45613057", vectorBytes(45613057)},
		{"random", randomBytes(1, 3_000_001)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mustCairn(t, dir, nil, "add", writeFile(t, tc.data)).lastLine()
			if got := mustCairn(t, dir, nil, "cat", c).stdout; got != string(tc.data) {
				t.Fatalf("cat returned %d bytes that differ from the %d added", len(got), len(tc.data))
			}
			out := filepath.Join(t.TempDir(), "out")
			mustCairn(t, dir, nil, "get", c, "-o", out)
			got, err := os.ReadFile(out)
			if err != nil || !bytes.Equal(got, tc.data) {
				t.Fatalf("get wrote %d bytes that differ from the %d added (%v)", len(got), len(tc.data), err)
			}
		})
	}
	// stdin is a file too.
	data := randomBytes(2, 700_000)
	c := mustCairn(t, dir, data, "add", "-").lastLine()
	if got := mustCairn(t, dir, nil, "cat", c).stdout; got != string(data) {
		t.Fatal("add - then cat differs")
	}
}

func TestStatReportsSizeBlocksAndType(t *testing.T) {
	dir := newRepo(t)
	cases := []struct {
		size   int64
		blocks int
		typ    string
	}{
		{1000, 1, "raw"},
		{1 << 20, 5, "file"},
		{45613057, 174 + 1 + 1 + 1 + 1, "file"},
	}
	for _, tc := range cases {
		c := mustCairn(t, dir, nil, "add", writeFile(t, vectorBytes(tc.size))).lastLine()
		out := mustCairn(t, dir, nil, "stat", c).stdout
		for _, want := range []string{"Size:    " + strconv.FormatInt(tc.size, 10), "Blocks:  " + strconv.Itoa(tc.blocks), "Type:    " + tc.typ} {
			if !strings.Contains(out, want+"\n") {
				t.Errorf("stat of %d bytes: missing %q in\n%s", tc.size, want, out)
			}
		}
	}
}

func TestErrorsAreOneClearLineAndANonZeroExit(t *testing.T) {
	dir := newRepo(t)
	cases := []struct {
		name string
		repo string
		args []string
		want string
	}{
		{"unknown CID", dir, []string{"cat", "bafkreihmzqbsjjvmvexdhs5liluma546fw34mh4glu5enmn6gec24o4ksu"}, "not found locally"},
		{"malformed CID", dir, []string{"cat", "bafy-not-a-cid"}, "invalid CID"},
		{"missing repo", filepath.Join(t.TempDir(), "none"), []string{"cat", "bafkreihmzqbsjjvmvexdhs5liluma546fw34mh4glu5enmn6gec24o4ksu"}, "cairn init"},
		{"unreadable file", dir, []string{"add", filepath.Join(t.TempDir(), "missing")}, "no such file"},
		{"directory", dir, []string{"add", t.TempDir()}, "is a directory"},
		{"unknown hash", dir, []string{"add", "--hash", "md5", "-"}, "unsupported multihash"},
		{"unknown command", dir, []string{"frobnicate"}, "unknown command"},
		{"stat unknown CID", dir, []string{"stat", "bafkreihmzqbsjjvmvexdhs5liluma546fw34mh4glu5enmn6gec24o4ksu"}, "not found locally"},
		{"init twice", dir, []string{"init"}, "already initialized"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := cairn(t, tc.repo, nil, tc.args...)
			if r.code == 0 {
				t.Fatalf("exit 0, want failure; stdout %q", r.stdout)
			}
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "Error: ") || !strings.Contains(lines[0], tc.want) {
				t.Fatalf("stderr %q: want one line \"Error: ...%s...\"", r.stderr, tc.want)
			}
		})
	}
}

func TestConfigSetsAndReadsKeysAndRefusesBadOnes(t *testing.T) {
	dir := newRepo(t)
	mustCairn(t, dir, nil, "config", "Storage.Max", "100GB")
	if got := mustCairn(t, dir, nil, "config", "Storage.Max").stdout; got != "100GB\n" {
		t.Fatalf("Storage.Max = %q", got)
	}
	mustCairn(t, dir, nil, "config", "Replication.GraceDelay", "2s")
	before, _ := os.ReadFile(filepath.Join(dir, "config"))
	for _, args := range [][]string{
		{"config", "Storage.Nope", "1"},
		{"config", "Storage.Max", "lots"},
		{"config", "Replication.GraceDelay", "5 minutes"},
		{"config", "Replication.Factor", "-1"},
	} {
		if r := cairn(t, dir, nil, args...); r.code == 0 || !strings.HasPrefix(r.stderr, "Error: ") {
			t.Errorf("cairn %v: %+v, want a refusal", args, r)
		}
	}
	after, _ := os.ReadFile(filepath.Join(dir, "config"))
	if !bytes.Equal(before, after) {
		t.Fatal("a refused config change altered the file")
	}
	if got := mustCairn(t, dir, nil, "config", "Replication.GraceDelay").stdout; got != "2s\n" {
		t.Fatalf("GraceDelay = %q, want 2s", got)
	}
}

func TestRepoVerifyNamesARottedBlockAndFails(t *testing.T) {
	dir := newRepo(t)
	data := vectorBytes(3 * 262144)
	root := mustCairn(t, dir, nil, "add", writeFile(t, data)).lastLine()
	if r := mustCairn(t, dir, nil, "repo", "verify"); !strings.Contains(r.stdout, "verified 4 blocks") {
		t.Fatalf("verify of a clean repo: %q", r.stdout)
	}
	// Flip a byte in the data of the segment's first record, a leaf
	// (which one depends on which hashing worker stored first).
	seg := filepath.Join(dir, "blocks", "00000001.seg")
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	hdr := make([]byte, 16+64)
	f.ReadAt(hdr, 0)
	keyLen := int(binary.LittleEndian.Uint16(hdr[8:]))
	victim := cid.NewCidV1(cid.Raw, mh.Multihash(hdr[16:16+keyLen])).String()
	b := make([]byte, 1)
	f.ReadAt(b, 1000)
	b[0] ^= 1
	f.WriteAt(b, 1000)
	f.Close()

	r := cairn(t, dir, nil, "repo", "verify")
	if r.code == 0 || !strings.Contains(r.stdout, "FAILED "+victim) || strings.Count(r.stdout, "FAILED") != 1 {
		t.Fatalf("verify after bitrot: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := cairn(t, dir, nil, "cat", root); r.code == 0 || !strings.Contains(r.stderr, "corrupt") {
		t.Fatalf("cat of a file with a rotted block: exit %d, stderr %q", r.code, r.stderr)
	}
}
