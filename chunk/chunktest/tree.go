package chunktest

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// MakeTree builds at root the tree that a manifest of the dirs vectors
// (VectorsDir()/dirs) describes,
// as mktree.py does: "PATH\tSIZE" is a file of the first SIZE bytes of the
// vector stream, "PATH\t-> TARGET" a symlink, "PATH/" an empty directory.
func MakeTree(t testing.TB, manifest, root string) {
	t.Helper()
	f, err := os.Open(filepath.Join(VectorsDir(), "dirs", manifest))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type file struct {
		path string
		size int
	}
	var files []file
	maxSize := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, "/") {
			if err := os.MkdirAll(filepath.Join(root, line), 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		path, spec, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("%s: bad line %q", manifest, line)
		}
		full := filepath.Join(root, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(spec, "-> "); ok {
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		size, err := strconv.Atoi(spec)
		if err != nil {
			t.Fatalf("%s: bad size in %q", manifest, line)
		}
		files = append(files, file{full, size})
		maxSize = max(maxSize, size)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	// Every file is a prefix of the same stream: generate it once.
	stream := VectorBytes(int64(maxSize))
	for _, fl := range files {
		if err := os.WriteFile(fl.path, stream[:fl.size], 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
