package main

import (
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"net/url"

	"github.com/cairnstore/cairn/chunk"
)

// writeTreeParts writes a folder's entries as kubo's multipart form (see
// gateway/tree.go): each part named by its path from the folder's own
// name, query-escaped; directories and symlinks marked by their type.
// progress, if set, hears the files and bytes sent so far.
func writeTreeParts(mw *multipart.Writer, rootName string, tr *chunk.DiskTreeReader, progress func(chunk.DirProgress)) error {
	defer tr.Close()
	var done chunk.DirProgress
	for {
		e, err := tr.Next()
		if err == io.EOF {
			return mw.Close()
		}
		if err != nil {
			return err
		}
		name := rootName
		if e.Path != "" {
			name += "/" + e.Path
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename="%s"`, url.QueryEscape(name)))
		switch e.Kind {
		case chunk.EntryDir:
			h.Set("Content-Type", "application/x-directory")
		case chunk.EntrySymlink:
			h.Set("Content-Type", "application/symlink")
		default:
			h.Set("Content-Type", "application/octet-stream")
		}
		part, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		switch e.Kind {
		case chunk.EntrySymlink:
			_, err = io.WriteString(part, e.Target)
		case chunk.EntryFile:
			var n int64
			n, err = io.Copy(part, e.Body)
			done.Files++
			done.Bytes += uint64(n)
			if progress != nil {
				progress(done)
			}
		}
		if err != nil {
			return fmt.Errorf("send %s: %w", name, err)
		}
	}
}
