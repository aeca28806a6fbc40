package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// result is what one in-process run of the CLI printed.
type result struct {
	code           int
	stdout, stderr string
}

// lastLine is the last line of stdout, where add prints the CID.
func (r result) lastLine() string {
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	return lines[len(lines)-1]
}

func cairn(t *testing.T, repoDir string, stdin []byte, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	if repoDir != "" {
		args = append([]string{"--repo", repoDir}, args...)
	}
	code := run(args, bytes.NewReader(stdin), &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func mustCairn(t *testing.T, repoDir string, stdin []byte, args ...string) result {
	t.Helper()
	r := cairn(t, repoDir, stdin, args...)
	if r.code != 0 {
		t.Fatalf("cairn %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

func newRepo(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	mustCairn(t, dir, nil, "init")
	return dir
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "input")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// vectorReader yields the cairn-vector-sha256ctr stream of
// ../shared/vectors/README.md: SHA-256("cairn-vector" || uint64be(i)).
type vectorReader struct {
	left  int64
	ctr   uint64
	block [32]byte
	pos   int
}

func newVectorReader(n int64) io.Reader { return &vectorReader{left: n, pos: 32} }

func (v *vectorReader) Read(p []byte) (int, error) {
	if v.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > v.left {
		p = p[:v.left]
	}
	n := 0
	for n < len(p) {
		if v.pos == 32 {
			var msg [20]byte
			copy(msg[:], "cairn-vector")
			binary.BigEndian.PutUint64(msg[12:], v.ctr)
			v.block = sha256.Sum256(msg[:])
			v.ctr++
			v.pos = 0
		}
		c := copy(p[n:], v.block[v.pos:])
		v.pos += c
		n += c
	}
	v.left -= int64(n)
	return n, nil
}

func vectorBytes(n int64) []byte {
	b, _ := io.ReadAll(newVectorReader(n))
	return b
}

func randomBytes(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}
