// Package chunktest holds what tests of cairn's content layer share: the
// generator of the reference vectors and a reader of their tables.
package chunktest

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// VectorReader yields the first n bytes of the cairn-vector-sha256ctr
// stream of the shared vectors: SHA-256("cairn-vector" || uint64be(i)) for
// i = 0, 1, 2, ...
func VectorReader(n int64) io.Reader { return &vectorReader{left: n, pos: 32} }

// VectorBytes is VectorReader read into memory.
func VectorBytes(n int64) []byte {
	b, _ := io.ReadAll(VectorReader(n))
	return b
}

type vectorReader struct {
	left  int64
	ctr   uint64
	block [32]byte
	pos   int // bytes of block already handed out; 32 means refill
}

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

// VectorsDir is chunk/testdata/vectors, wherever the caller's test runs.
func VectorsDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "vectors")
}

// ReadTable returns the rows of a vectors TSV file, header skipped.
func ReadTable(name string) ([][]string, error) {
	f, err := os.Open(filepath.Join(VectorsDir(), name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) < 2 || fields[0] == "size" {
			continue
		}
		rows = append(rows, fields)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return rows, nil
}

// Input returns the bytes a vectors row names: the generator's stream of
// the given size, or a literal ("literal:hello world\n").
func Input(size int64, gen string) ([]byte, error) {
	switch {
	case gen == "cairn-vector-sha256ctr":
		return VectorBytes(size), nil
	case strings.HasPrefix(gen, "literal:"):
		s := strings.ReplaceAll(strings.TrimPrefix(gen, "literal:"), `\n`, "\n")
		if int64(len(s)) != size {
			return nil, fmt.Errorf("literal %q is %d bytes, row says %d", s, len(s), size)
		}
		return []byte(s), nil
	}
	return nil, fmt.Errorf("unknown generator %q", gen)
}
