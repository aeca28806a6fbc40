package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"time"
)

// pages holds each page's template: the layout, the shared parts and the
// page's own "main".
type pages map[string]*template.Template

// view is what every page's layout gets; Data is the page's own.
type view struct {
	Title   string
	Page    string
	Self    string
	Version string // of the static files, so a new binary's are fetched anew
	Data    any
}

var pageNames = []string{"overview", "pins", "pin", "files", "peers", "upload", "error"}

// staticVersion is a hash of the embedded static files, for their URLs.
var staticVersion = func() string {
	h := sha256.New()
	err := fs.WalkDir(assets, "assets/static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		h.Write(b)
		return err
	})
	if err != nil {
		panic("console: embedded static files: " + err.Error()) // a broken build, not input
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}()

var funcs = template.FuncMap{
	"bytes": func(n any) string {
		switch v := n.(type) {
		case int64:
			return humanBytes(uint64(max(v, 0)))
		case uint64:
			return humanBytes(v)
		case int:
			return humanBytes(uint64(max(v, 0)))
		}
		return fmt.Sprint(n)
	},
	"short": shortID,
	"num":   num,
}

func parsePages() (pages, error) {
	pg := pages{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, "assets/layout.html", "assets/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: page %s: %w", name, err)
		}
		pg[name] = t
	}
	return pg, nil
}

// render writes a page, or its main section alone for ?part=main. It
// renders into a buffer first, so a template error is a clean 500 rather
// than half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page, title string, data any) {
	v := view{Title: title, Page: page, Self: c.cfg.Backend.Identity().ID, Version: staticVersion, Data: data}
	tmpl := "layout"
	if r.URL.Query().Get("part") == "main" {
		tmpl = "main"
	}
	var buf bytes.Buffer
	if err := c.pages[page].ExecuteTemplate(&buf, tmpl, v); err != nil {
		http.Error(w, "console: render "+page+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fail renders the error page: the console's errors are pages, not JSON.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, err error) {
	c.render(w, r, status, "error", http.StatusText(status), struct {
		Status int
		Text   string
		Error  string
	}{status, http.StatusText(status), err.Error()})
}

func (c *Console) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	b, err := assets.ReadFile(path.Join("assets/static", name))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	switch path.Ext(name) {
	case ".css":
		h.Set("Content-Type", "text/css; charset=utf-8")
	case ".js":
		h.Set("Content-Type", "text/javascript; charset=utf-8")
	case ".svg":
		h.Set("Content-Type", "image/svg+xml")
	}
	// Pages ask for ?v=staticVersion: a versioned URL never changes.
	if r.URL.Query().Get("v") == staticVersion {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("KMGTPE"[exp]) + "iB"
}

// shortID is the end of a peer ID, which tells peers apart where the
// start does not (every Ed25519 ID starts 12D3KooW).
func shortID(id string) string {
	if len(id) <= 12 {
		return id
	}
	return "…" + id[len(id)-10:]
}

// ago says how long before now t was, coarsely.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 2*time.Second:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h ago"
	}
	return t.UTC().Format("2006-01-02")
}
