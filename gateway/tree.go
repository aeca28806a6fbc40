package gateway

import (
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"slices"
	"strings"

	"github.com/cairnstore/cairn/chunk"
)

// Folder uploads come in kubo's multipart form: one part per file,
// directory and symlink, each named by its path from the folder's root
// (the folder's own name first) in the part's filename, escaped as a
// query string. A directory part has Content-Type
// application/x-directory, a symlink part application/symlink with the
// target as its body; anything else is a file.
const (
	mimeDirectory = "application/x-directory"
	mimeSymlink   = "application/symlink"
	maxLinkTarget = 4096
)

// uploadPart is one file part of an upload, with its path split off.
type uploadPart struct {
	*multipart.Part
	path []string // the unescaped filename's components
	kind chunk.EntryKind
}

// partFileName is a part's filename as sent: Part.FileName keeps only
// its last element, and a folder's paths are the whole point.
func partFileName(p *multipart.Part) string {
	_, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil {
		return ""
	}
	return params["filename"]
}

func readUploadPart(p *multipart.Part) (uploadPart, error) {
	// Query-escaped as kubo's clients send it ("+" for a space): always
	// unescaped, as kubo does.
	name, err := url.QueryUnescape(partFileName(p))
	if err != nil {
		name = partFileName(p) // not escaped after all ("100%.txt")
	}
	if name == "" || strings.HasPrefix(name, "/") {
		return uploadPart{}, fmt.Errorf("%w: part filename %q: want a relative path", chunk.ErrBadTree, name)
	}
	up := uploadPart{Part: p, path: strings.Split(strings.TrimSuffix(name, "/"), "/"), kind: chunk.EntryFile}
	mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
	switch mt {
	case mimeDirectory:
		up.kind = chunk.EntryDir
	case mimeSymlink:
		up.kind = chunk.EntrySymlink
	}
	return up, nil
}

// isTree says whether an upload whose first file part is first is a
// folder: a directory part, or a path with a directory in it. One plain
// file part is a file, as it always was.
func (up uploadPart) isTree() bool { return up.kind == chunk.EntryDir || len(up.path) > 1 }

// multipartTree reads a folder upload as a chunk.TreeReader. Parts must
// come depth-first (kubo's CLI sends them so); directories an upload
// leaves out (curl -F with paths only) are made up on the way, so long as
// each directory's entries still come together.
type multipartTree struct {
	mr    *multipart.Reader
	first *uploadPart // read already, not yet given out
	root  string      // the folder's own name, stripped from every path
	chain []string    // directories open on the depth-first path, root ("") first
	queue []chunk.TreeEntry
}

func newMultipartTree(mr *multipart.Reader, first uploadPart) *multipartTree {
	return &multipartTree{mr: mr, first: &first, root: first.path[0]}
}

// Next implements chunk.TreeReader.
func (t *multipartTree) Next() (chunk.TreeEntry, error) {
	for len(t.queue) == 0 {
		up, err := t.nextPart()
		if err != nil {
			return chunk.TreeEntry{}, err
		}
		if err := t.enqueue(up); err != nil {
			return chunk.TreeEntry{}, err
		}
	}
	e := t.queue[0]
	t.queue = t.queue[1:]
	return e, nil
}

func (t *multipartTree) nextPart() (uploadPart, error) {
	if t.first != nil {
		up := *t.first
		t.first = nil
		return up, nil
	}
	for {
		p, err := t.mr.NextPart()
		if err == io.EOF {
			return uploadPart{}, io.EOF
		}
		if err != nil {
			return uploadPart{}, fmt.Errorf("%w: malformed multipart body: %v", chunk.ErrBadTree, err)
		}
		if partFileName(p) == "" {
			continue // a form field, not an entry
		}
		return readUploadPart(p)
	}
}

// enqueue turns a part into its entry, after the directories above it
// that the upload did not send itself.
func (t *multipartTree) enqueue(up uploadPart) error {
	if up.path[0] != t.root {
		return fmt.Errorf("%w: %q is outside the folder %q", chunk.ErrBadTree, strings.Join(up.path, "/"), t.root)
	}
	rel := strings.Join(up.path[1:], "/")
	if up.kind == chunk.EntryDir && slices.Contains(t.chain, rel) {
		return nil // made up already, when an entry under it came first
	}
	parent := dirOf(rel)
	// Close what the entry is not under, then open what it needs.
	for len(t.chain) > 0 && !within(parent, t.chain[len(t.chain)-1]) {
		t.chain = t.chain[:len(t.chain)-1]
	}
	if len(t.chain) == 0 && rel != "" {
		t.open("")
	}
	if rel != "" {
		top := t.chain[len(t.chain)-1]
		var missing []string
		for d := parent; d != top; d = dirOf(d) {
			missing = append(missing, d)
		}
		for i := len(missing) - 1; i >= 0; i-- {
			t.open(missing[i])
		}
	}
	switch up.kind {
	case chunk.EntryDir:
		t.open(rel)
	case chunk.EntrySymlink:
		target, err := io.ReadAll(io.LimitReader(up, maxLinkTarget+1))
		if err != nil {
			return fmt.Errorf("%w: symlink %q: %v", chunk.ErrBadTree, rel, err)
		}
		if len(target) > maxLinkTarget {
			return fmt.Errorf("%w: symlink %q: target longer than %d bytes", chunk.ErrBadTree, rel, maxLinkTarget)
		}
		t.queue = append(t.queue, chunk.TreeEntry{Path: rel, Kind: chunk.EntrySymlink, Target: string(target)})
	default:
		t.queue = append(t.queue, chunk.TreeEntry{Path: rel, Kind: chunk.EntryFile, Body: up})
	}
	return nil
}

func (t *multipartTree) open(dir string) {
	t.chain = append(t.chain, dir)
	t.queue = append(t.queue, chunk.TreeEntry{Path: dir, Kind: chunk.EntryDir})
}

// within says whether path p is dir or lies under it ("" is the root).
func within(p, dir string) bool {
	return dir == "" || p == dir || strings.HasPrefix(p, dir+"/")
}

// dirOf is the directory holding p ("" for a top-level entry).
func dirOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}
