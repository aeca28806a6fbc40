package main

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnstore/cairn/chunk/chunktest"
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

func cairn(t testing.TB, repoDir string, stdin []byte, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	if repoDir != "" {
		args = append([]string{"--repo", repoDir}, args...)
	}
	code := run(args, bytes.NewReader(stdin), &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func mustCairn(t testing.TB, repoDir string, stdin []byte, args ...string) result {
	t.Helper()
	r := cairn(t, repoDir, stdin, args...)
	if r.code != 0 {
		t.Fatalf("cairn %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

func newRepo(t testing.TB) string {
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

func vectorBytes(n int64) []byte { return chunktest.VectorBytes(n) }

func randomBytes(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}
