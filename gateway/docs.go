package gateway

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"google.golang.org/protobuf/encoding/protowire"
)

// isDocument reports whether c is a block of an IPLD document codec
// (dag-json, dag-cbor, json, cbor): served as data, not as UnixFS.
func isDocument(c cid.Cid) bool {
	switch c.Type() {
	case cid.DagJSON, cid.DagCBOR, chunk.CodecJSON, chunk.CodecCBOR:
		return true
	}
	return false
}

// codecType is the response type of a document block served as is.
func codecType(c cid.Cid) string {
	switch c.Type() {
	case cid.DagJSON:
		return mimeDagJSON
	case cid.DagCBOR:
		return mimeDagCBOR
	case chunk.CodecJSON:
		return mimeJSON
	}
	return mimeCBOR
}

// jsonFamily: the JSON types share a payload, as do the CBOR ones.
func jsonFamily(t string) bool { return t == mimeDagJSON || t == mimeJSON }

// serveDocument answers a dag-json, dag-cbor, json or cbor block: as it is
// when the asked type is of its family (json for dag-json, dag-cbor for
// cbor, ...), else converted between JSON and CBOR through the IPLD data
// model; text/html gets a page showing it as dag-json. A dag-pb or raw
// block asked for as dag-json or dag-cbor is converted the same way.
func (s *Server) serveDocument(w http.ResponseWriter, r *http.Request, c cid.Cid, format string, roots []string) {
	data, err := s.cfg.Backend.Block(r.Context(), c, s.readOpts())
	if err != nil {
		writeError(w, fetchStatus(err), err)
		return
	}
	h := w.Header()
	if format == mimeHTML && isDocument(c) && r.URL.Query().Get("format") == "" {
		s.serveDocumentPage(w, r, c, data)
		return
	}
	natural := codecType(c)
	want := format
	if want == "" {
		want = natural
	}
	body := data
	// A plain json or cbor block asked for as dag-* is re-encoded, so what
	// is served keeps the dag-* rules (sorted keys, canonical forms).
	plainToDag := (want == mimeDagJSON || want == mimeDagCBOR) && (natural == mimeJSON || natural == mimeCBOR)
	if !isDocument(c) || jsonFamily(want) != jsonFamily(natural) || plainToDag {
		if body, err = convertDocument(c, data, jsonFamily(want)); err != nil {
			writeError(w, http.StatusNotAcceptable, err)
			return
		}
	}
	ext, disp := "cbor", "attachment"
	if jsonFamily(want) {
		ext, disp = "json", "inline" // a browser can show JSON
	}
	name := c.String() + "." + ext
	if q := r.URL.Query().Get("filename"); q != "" {
		name = path.Base(strings.ReplaceAll(q, `\`, "/"))
	}
	if r.URL.Query().Get("download") == "true" {
		disp = "attachment"
	}
	immutable(h, `"`+c.String()+"."+strings.TrimPrefix(strings.TrimPrefix(want, "application/"), "vnd.ipld.")+`"`)
	h.Set("Content-Type", want)
	h.Set("Content-Disposition", contentDisposition(disp, name))
	h.Set("X-Ipfs-Path", r.URL.EscapedPath())
	h.Set("X-Ipfs-Roots", strings.Join(roots, ","))
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// convertDocument decodes a document block by its codec (plain json with
// the dag-json decoder, plain cbor with the dag-cbor one: a plain block
// that breaks the dag-* rules cannot be converted, and is refused) and
// encodes it as dag-json or dag-cbor.
func convertDocument(c cid.Cid, data []byte, toJSON bool) (out []byte, err error) {
	defer func() {
		// Third-party codecs fed a stranger's bytes: a panic is a bad block.
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("%w: converting %s: %v", chunk.ErrBadNode, c, p)
		}
	}()
	var n datamodel.Node
	switch c.Type() {
	case cid.DagProtobuf:
		n, err = dagPBModel(data)
	case cid.Raw:
		n = basicnode.NewBytes(data)
	case cid.DagJSON, chunk.CodecJSON:
		nb := basicnode.Prototype.Any.NewBuilder()
		err = dagjson.Decode(nb, bytes.NewReader(data))
		n = nb.Build()
	default:
		nb := basicnode.Prototype.Any.NewBuilder()
		err = dagcbor.Decode(nb, bytes.NewReader(data))
		n = nb.Build()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s does not decode as an IPLD document: %v", chunk.ErrBadNode, c, err)
	}
	var buf bytes.Buffer
	if toJSON {
		err = dagjson.Encode(n, &buf)
	} else {
		err = dagcbor.Encode(n, &buf)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s cannot be encoded as asked: %v", chunk.ErrBadNode, c, err)
	}
	return buf.Bytes(), nil
}

// serveDocumentPage is a document shown to a browser: its CID, codec and
// content as dag-json. It is a page about the block, not the block, so it
// has its own ETag and no long-lived caching.
func (s *Server) serveDocumentPage(w http.ResponseWriter, r *http.Request, c cid.Cid, data []byte) {
	text := string(data)
	if c.Type() != cid.DagJSON && c.Type() != chunk.CodecJSON {
		js, err := convertDocument(c, data, true)
		if err != nil {
			text = fmt.Sprintf("(%d bytes that do not convert to JSON: %v)", len(data), err)
		} else {
			text = string(js)
		}
	}
	h := w.Header()
	h.Set("Etag", `"DagIndex-`+c.String()+`"`)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		return
	}
	documentPage.Execute(w, struct{ CID, Codec, Text string }{c.String(), codecType(c), text})
}

var documentPage = template.Must(template.New("doc").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.CID}}</title>
<style>body{font-family:sans-serif;margin:2em}pre{white-space:pre-wrap}</style></head>
<body><h1><code>{{.CID}}</code></h1><p>{{.Codec}}</p><pre>{{.Text}}</pre></body></html>
`))

// onlyIfCached reports whether the request says, in Cache-Control, that
// it wants an answer only from what is held here (path gateway spec).
func onlyIfCached(r *http.Request) bool {
	for _, d := range strings.Split(r.Header.Get("Cache-Control"), ",") {
		if strings.EqualFold(strings.TrimSpace(d), "only-if-cached") {
			return true
		}
	}
	return false
}

// dagPBModel is a dag-pb block in the IPLD data model, as `ipfs dag get`
// shows it: {"Data": bytes, "Links": [{"Hash", "Name", "Tsize"}]}, each
// optional field only when the block has it, keys in canonical order. It
// is read here from the protobuf, which is all a conversion needs.
func dagPBModel(data []byte) (datamodel.Node, error) {
	type link struct {
		hash           cid.Cid
		name           string
		tsize          int64
		hasName, hasTs bool
	}
	var (
		pbData  []byte
		hasData bool
		links   []link
	)
	for b := data; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.BytesType || (num != 1 && num != 2) {
			return nil, fmt.Errorf("%w: dag-pb field %d of type %d", chunk.ErrBadNode, num, typ)
		}
		b = b[n:]
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, fmt.Errorf("%w: truncated dag-pb field", chunk.ErrBadNode)
		}
		b = b[n:]
		if num == 1 {
			pbData, hasData = v, true
			continue
		}
		var l link
		for lb := v; len(lb) > 0; {
			lnum, ltyp, n := protowire.ConsumeTag(lb)
			if n < 0 {
				return nil, fmt.Errorf("%w: bad dag-pb link", chunk.ErrBadNode)
			}
			lb = lb[n:]
			switch {
			case lnum == 3 && ltyp == protowire.VarintType:
				ts, n := protowire.ConsumeVarint(lb)
				if n < 0 {
					return nil, fmt.Errorf("%w: bad dag-pb Tsize", chunk.ErrBadNode)
				}
				l.tsize, l.hasTs, lb = int64(ts), true, lb[n:]
			case (lnum == 1 || lnum == 2) && ltyp == protowire.BytesType:
				fv, n := protowire.ConsumeBytes(lb)
				if n < 0 {
					return nil, fmt.Errorf("%w: bad dag-pb link field", chunk.ErrBadNode)
				}
				lb = lb[n:]
				if lnum == 2 {
					l.name, l.hasName = string(fv), true
				} else if _, h, err := cid.CidFromBytes(fv); err == nil {
					l.hash = h
				} else {
					return nil, fmt.Errorf("%w: dag-pb link hash: %v", chunk.ErrBadNode, err)
				}
			default:
				return nil, fmt.Errorf("%w: dag-pb link field %d", chunk.ErrBadNode, lnum)
			}
		}
		links = append(links, l)
	}
	return qp.BuildMap(basicnode.Prototype.Any, -1, func(ma datamodel.MapAssembler) {
		if hasData {
			qp.MapEntry(ma, "Data", qp.Bytes(pbData))
		}
		qp.MapEntry(ma, "Links", qp.List(int64(len(links)), func(la datamodel.ListAssembler) {
			for _, l := range links {
				qp.ListEntry(la, qp.Map(-1, func(ma datamodel.MapAssembler) {
					qp.MapEntry(ma, "Hash", qp.Link(cidlink.Link{Cid: l.hash}))
					if l.hasName {
						qp.MapEntry(ma, "Name", qp.String(l.name))
					}
					if l.hasTs {
						qp.MapEntry(ma, "Tsize", qp.Int(l.tsize))
					}
				}))
			}
		}))
	})
}
