package chunk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// EntryKind says what a tree entry is.
type EntryKind uint8

// The kinds UnixFS can hold. Zero is no kind, so an entry left unset is
// refused rather than taken for a file.
const (
	EntryFile    EntryKind = iota + 1 // a regular file: Body
	EntryDir                          // a directory: its entries follow
	EntrySymlink                      // a symbolic link: Target
)

func (k EntryKind) String() string {
	switch k {
	case EntryFile:
		return "file"
	case EntryDir:
		return "directory"
	case EntrySymlink:
		return "symlink"
	}
	return fmt.Sprintf("EntryKind(%d)", uint8(k))
}

// TreeEntry is one entry of a tree being added.
type TreeEntry struct {
	// Path is slash-separated and relative to the tree's root; the root
	// itself is "" (and comes first).
	Path   string
	Kind   EntryKind
	Body   io.Reader // EntryFile: its bytes, read to EOF by AddTree before the next Next
	Target string    // EntrySymlink: the link's target, as written
}

// TreeReader yields a tree's entries depth-first: the root first, a
// directory before its contents, and every entry under a directory before
// any entry outside it (siblings in any order: AddTree sorts links as kubo
// does). Next returns io.EOF after the last entry.
type TreeReader interface {
	Next() (TreeEntry, error)
}

// ErrBadTree wraps every refusal of a malformed entry stream.
var ErrBadTree = errors.New("malformed tree")

// badTree refuses the entry at path. The path is quoted: it comes from the
// stream (an HTTP client, say) and may hold anything.
func badTree(path, format string, args ...any) error {
	return fmt.Errorf("add tree: %w: %q: %s", ErrBadTree, path, fmt.Sprintf(format, args...))
}

// AddTree builds the tree tr yields (files through the same path as Add) and
// returns its root. A root that is a file or symlink is stored as that.
//
// The CID is the one `ipfs add -r --cid-version=1` gives the same tree (see
// AddDir), whatever the order of siblings in the stream, so a folder added
// from disk and one streamed over HTTP get the same root. Every block goes
// to sink (nil: compute the CIDs only).
//
// A stream that is not a well-formed depth-first tree is refused with an
// error wrapping ErrBadTree that names the offending path.
//
// Memory: the links of the directories on the chain from the root to the
// entry being added (a stack; a directory's links go when its node is
// written), and what Add holds for the file under way; never file contents.
func AddTree(ctx context.Context, tr TreeReader, sink BlockSink, opts DirOptions) (DirResult, error) {
	if opts.Hash == 0 {
		opts.Hash = SHA2_256
	}
	if _, err := opts.Hash.Sum(nil); err != nil {
		return DirResult{}, err
	}
	a := &dirAdder{
		ctx:  ctx,
		opts: opts,
		w:    dirWriter{sink: sink, hash: opts.Hash},
		buf:  make([]byte, ChunkSize+1),
	}
	l, err := a.build(tr)
	if err != nil {
		return DirResult{}, err
	}
	a.res.Root = l.CID
	a.res.Tsize = l.Tsize
	a.res.Blocks += a.w.blocks
	return a.res, nil
}

// dirAdder is the one builder of trees, whatever their source.
type dirAdder struct {
	ctx  context.Context
	opts DirOptions
	w    dirWriter
	// buf holds the head of the file being added: the whole of a file of
	// at most one chunk, which is then its single raw leaf.
	buf []byte
	res DirResult
	// open is the chain of directories from the root (open[0]) to the
	// one entries last went into: the only ones a next entry may go in.
	open []openDir
}

// openDir is a directory whose entries are still coming.
type openDir struct {
	path  string // as in the stream; open[i] has i components
	links []Link // its entries so far, Name set
}

// next reads the next entry, checking ctx first so a cancelled add stops
// between entries even when the reader never blocks.
func (a *dirAdder) next(tr TreeReader) (TreeEntry, error) {
	if err := a.ctx.Err(); err != nil {
		return TreeEntry{}, fmt.Errorf("add tree: %w", err)
	}
	e, err := tr.Next()
	if err == io.EOF {
		// A reader that ends early because ctx was cancelled (as an
		// HTTP body does) must not pass for a complete tree.
		if cerr := a.ctx.Err(); cerr != nil {
			return TreeEntry{}, fmt.Errorf("add tree: %w", cerr)
		}
		return TreeEntry{}, io.EOF
	}
	if err != nil {
		return TreeEntry{}, fmt.Errorf("add tree: %w", err)
	}
	return e, nil
}

func (a *dirAdder) build(tr TreeReader) (Link, error) {
	e, err := a.next(tr)
	if err == io.EOF {
		return Link{}, fmt.Errorf("add tree: %w: no root entry", ErrBadTree)
	}
	if err != nil {
		return Link{}, err
	}
	if e.Path != "" {
		return Link{}, badTree(e.Path, "the first entry must be the root, path \"\"")
	}
	if err := checkEntry(e); err != nil {
		return Link{}, err
	}
	if e.Kind != EntryDir {
		l, err := a.leaf(e)
		if err != nil {
			return Link{}, err
		}
		// A file or symlink root is the whole tree: anything more is a
		// client's mistake we must not silently drop.
		switch more, err := a.next(tr); {
		case err == io.EOF:
			return l, nil
		case err != nil:
			return Link{}, err
		default:
			return Link{}, badTree(more.Path, "entry after a root that is a %s", e.Kind)
		}
	}
	a.open = []openDir{{path: ""}}
	for {
		e, err := a.next(tr)
		if err == io.EOF {
			break
		}
		if err != nil {
			return Link{}, err
		}
		if err := a.entry(e); err != nil {
			return Link{}, err
		}
	}
	for len(a.open) > 1 {
		if err := a.closeTop(); err != nil {
			return Link{}, err
		}
	}
	return a.writeDir(a.open[0])
}

// checkEntry checks what an entry says of itself, its path aside.
func checkEntry(e TreeEntry) error {
	switch e.Kind {
	case EntryDir, EntrySymlink:
	case EntryFile:
		// A nil Body is a producer's bug, not an empty file: refusing
		// it keeps a lost body from being stored as a valid empty one.
		if e.Body == nil {
			return badTree(e.Path, "file with a nil Body")
		}
	default:
		return badTree(e.Path, "unknown entry kind %d", uint8(e.Kind))
	}
	return nil
}

// splitTreePath checks a non-root path and splits it at its last '/'.
func splitTreePath(p string) (parent, name string, err error) {
	if p == "" {
		return "", "", badTree(p, "the root given again")
	}
	for _, c := range strings.Split(p, "/") {
		switch {
		case c == "":
			return "", "", badTree(p, "empty path component")
		case c == "." || c == "..":
			return "", "", badTree(p, "path component %q", c)
		case strings.IndexByte(c, 0) >= 0:
			return "", "", badTree(p, "NUL in a name")
		}
	}
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p, nil
	}
	return p[:i], p[i+1:], nil
}

// entry adds a non-root entry of a tree whose root is a directory.
func (a *dirAdder) entry(e TreeEntry) error {
	parent, name, err := splitTreePath(e.Path)
	if err != nil {
		return err
	}
	if err := checkEntry(e); err != nil {
		return err
	}
	// The parent must be on the open chain, at the index its number of
	// components gives; otherwise it was closed (out of order), never
	// came, or is not a directory. Checked before closing anything, so a
	// refused entry leaves no stray nodes behind.
	depth := 0
	if parent != "" {
		depth = strings.Count(parent, "/") + 1
	}
	if depth >= len(a.open) || a.open[depth].path != parent {
		return badTree(e.Path, "parent %q is not an open directory (entry out of depth-first order, parent missing, or parent not a directory)", parent)
	}
	// Entries under the directories past depth are over: write them.
	for len(a.open) > depth+1 {
		if err := a.closeTop(); err != nil {
			return err
		}
	}
	if e.Kind == EntryDir {
		if len(a.open) > MaxTreeDepth {
			return badTree(e.Path, "folders nested deeper than %d", MaxTreeDepth)
		}
		a.open = append(a.open, openDir{path: e.Path})
		return nil
	}
	l, err := a.leaf(e)
	if err != nil {
		return err
	}
	l.Name = name
	top := &a.open[len(a.open)-1]
	top.links = append(top.links, l)
	return nil
}

// closeTop writes the innermost open directory and links it from its parent.
func (a *dirAdder) closeTop() error {
	d := a.open[len(a.open)-1]
	a.open[len(a.open)-1] = openDir{} // let its links go
	a.open = a.open[:len(a.open)-1]
	l, err := a.writeDir(d)
	if err != nil {
		return err
	}
	l.Name = d.path[strings.LastIndexByte(d.path, '/')+1:]
	parent := &a.open[len(a.open)-1]
	parent.links = append(parent.links, l)
	return nil
}

// writeDir stores a finished directory. Duplicate names are found here, on
// the sorted links, rather than with a set of names per open directory:
// the links are all the memory a directory takes.
func (a *dirAdder) writeDir(d openDir) (Link, error) {
	slices.SortFunc(d.links, func(x, y Link) int { return strings.Compare(x.Name, y.Name) })
	for i := 1; i < len(d.links); i++ {
		if d.links[i].Name == d.links[i-1].Name {
			return Link{}, badTree(joinTreePath(d.path, d.links[i].Name), "name given twice in its directory")
		}
	}
	l, err := a.w.directory(d.links)
	if err != nil {
		return Link{}, fmt.Errorf("add directory %s: %w", treePathName(d.path), err)
	}
	a.res.Dirs++
	return l, nil
}

// leaf adds a file or symlink entry and returns its link (Name unset).
func (a *dirAdder) leaf(e TreeEntry) (Link, error) {
	if e.Kind == EntryFile {
		return a.addFile(e.Path, e.Body)
	}
	l, err := a.w.symlink(e.Target)
	if err != nil {
		return Link{}, fmt.Errorf("add symlink %s: %w", treePathName(e.Path), err)
	}
	a.res.Symlinks++
	return l, nil
}

func joinTreePath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// treePathName is a tree path as error messages show it: "." for the root.
func treePathName(p string) string {
	if p == "" {
		return "."
	}
	return p
}
