package console

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/gateway"
	"github.com/ipfs/go-cid"
)

const (
	// maxEntryRows bounds the entries a folder's page lists.
	maxEntryRows = 2000
	// maxPreview is the most of a text file a page shows.
	maxPreview = 16 << 10
)

type crumb struct{ Name, Href string }

type entryRow struct {
	gateway.DirEntry
	Href string
}

type filesData struct {
	Input     string // what the search box shows: CID/path
	Crumbs    []crumb
	Entry     gateway.DirEntry // what the path names
	Entries   []entryRow
	More      int    // entries not listed
	IPFS      string // the path under /ipfs/
	Download  string
	Image     bool
	Text      string
	TextShort bool // the preview is the file's start only
}

// escapePath escapes each element of a slash-separated path.
func escapePath(p string) string {
	if p == "" {
		return ""
	}
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

func (c *Console) files(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("cid") == "" {
		if in := strings.Trim(strings.TrimSpace(r.URL.Query().Get("path")), "/"); in != "" {
			in = strings.TrimPrefix(in, "ipfs/")
			root, rest, _ := strings.Cut(in, "/")
			target := "/console/files/" + url.PathEscape(root)
			if rest != "" {
				target += "/" + escapePath(rest)
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		c.render(w, r, http.StatusOK, "files", "Files", filesData{})
		return
	}
	root, err := chunk.ParseCID(r.PathValue("cid"))
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, fmt.Errorf("files: %w", err))
		return
	}
	p := strings.Trim(r.PathValue("path"), "/")
	release, ok := c.acquireFetch()
	if !ok {
		c.busy(w, r)
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.FetchTimeout)
	defer cancel()
	d, err := c.browse(ctx, root, p)
	if err != nil {
		c.fail(w, r, pinsStatus(err), fmt.Errorf("%s: %w", path.Join(root.String(), p), err))
		return
	}
	title := d.Entry.Name
	if title == "" {
		title = shortID(root.String())
	}
	c.render(w, r, http.StatusOK, "files", title, d)
}

func (c *Console) browse(ctx context.Context, root cid.Cid, p string) (filesData, error) {
	o := gateway.ReadOptions{StallTimeout: c.cfg.FetchTimeout}
	target := root
	if p != "" {
		var err error
		if target, err = c.cfg.Backend.Resolve(ctx, root, p, o); err != nil {
			return filesData{}, err
		}
	}
	e, err := c.cfg.Backend.Describe(ctx, target, o)
	if err != nil {
		return filesData{}, err
	}
	name := path.Base("/" + p)
	if p == "" {
		name = ""
	}
	e.Name = name
	d := filesData{Input: path.Join(root.String(), p), Entry: e, IPFS: "/ipfs/" + root.String()}
	if p != "" {
		d.IPFS += "/" + escapePath(p)
	}
	base := "/console/files/" + root.String()
	d.Crumbs = append(d.Crumbs, crumb{Name: shortID(root.String()), Href: base})
	if p != "" {
		for _, part := range strings.Split(p, "/") {
			base += "/" + url.PathEscape(part)
			d.Crumbs = append(d.Crumbs, crumb{Name: part, Href: base})
		}
	}
	switch e.Type {
	case "directory":
		lo := o
		lo.Describe = maxEntryRows // the page shows no more
		entries, err := c.cfg.Backend.List(ctx, target, lo)
		if err != nil {
			return filesData{}, err
		}
		for i, en := range entries {
			if i == maxEntryRows {
				d.More = len(entries) - i
				break
			}
			d.Entries = append(d.Entries, entryRow{DirEntry: en, Href: base + "/" + url.PathEscape(en.Name)})
		}
	case "file":
		dl := name
		if dl == "" {
			dl = target.String()
		}
		d.Download = "/ipfs/" + target.String() + "?filename=" + url.QueryEscape(dl) + "&download=true"
		if err := c.preview(ctx, target, name, &d); err != nil {
			return filesData{}, err
		}
	}
	return d, nil
}

// preview decides how a file is shown: an image by its name's type (the
// browser loads it from /ipfs/, where the gateway's sandbox applies), or
// text when its start is valid UTF-8 that sniffs as text.
func (c *Console) preview(ctx context.Context, target cid.Cid, name string, d *filesData) error {
	if t := mime.TypeByExtension(path.Ext(name)); strings.HasPrefix(t, "image/") {
		d.Image = true
		return nil
	}
	if d.Entry.Size == 0 {
		return nil
	}
	f, err := c.cfg.Backend.Open(ctx, target, gateway.ReadOptions{StallTimeout: c.cfg.FetchTimeout})
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, min(d.Entry.Size, maxPreview))
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF {
		return err
	}
	buf = buf[:n]
	short := uint64(n) < d.Entry.Size
	if short {
		// Cut at the last whole rune, so the check below judges the text.
		for i := 0; i < utf8.UTFMax && len(buf) > 0 && !utf8.Valid(buf); i++ {
			buf = buf[:len(buf)-1]
		}
	}
	ct := http.DetectContentType(buf)
	switch {
	case strings.HasPrefix(ct, "image/"):
		d.Image = true
	case utf8.Valid(buf) && strings.HasPrefix(ct, "text/"):
		d.Text, d.TextShort = string(buf), short
	}
	return nil
}
