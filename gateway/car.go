package gateway

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/cairnstore/cairn/chunk"
	"github.com/ipfs/go-cid"
)

// carRequest is what a trustless CAR request asks for, from its query and
// Accept parameters (IPFS trustless gateway spec).
type carRequest struct {
	scope string // chunk.ScopeAll, ScopeEntity or ScopeBlock
	dups  bool
	rng   *chunk.ByteRange // entity-bytes; nil for the whole entity
	raw   string           // dag-scope, entity-bytes and dups as asked, for the ETag
}

// parseCARRequest reads dag-scope, entity-bytes and the CAR parameters
// (version, order, dups): car-version, car-order and car-dups in the query
// win over the Accept header's, as IPIP-0523 says. Only CARv1 in DFS order
// is written; order=unk is answered with dfs, which it allows.
func parseCARRequest(r *http.Request) (carRequest, error) {
	params := map[string]string{}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, p, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == mimeCAR {
			params = p
			break
		}
	}
	q := r.URL.Query()
	for _, k := range []string{"version", "order", "dups"} {
		if v := q.Get("car-" + k); v != "" {
			params[k] = v
		}
	}
	if v := params["version"]; v != "" && v != "1" {
		return carRequest{}, fmt.Errorf("%w: CAR version %q: only version 1 is served", ErrInvalid, v)
	}
	if v := params["order"]; v != "" && v != "dfs" && v != "unk" {
		return carRequest{}, fmt.Errorf("%w: CAR order %q: use dfs or unk", ErrInvalid, v)
	}
	var cr carRequest
	switch v := params["dups"]; v {
	case "y":
		cr.dups = true
	case "n", "":
	default:
		return carRequest{}, fmt.Errorf("%w: CAR dups %q: use y or n", ErrInvalid, v)
	}
	switch cr.scope = q.Get("dag-scope"); cr.scope {
	case "":
		cr.scope = chunk.ScopeAll
	case chunk.ScopeAll, chunk.ScopeEntity, chunk.ScopeBlock:
	default:
		return carRequest{}, fmt.Errorf("%w: dag-scope %q: use all, entity or block", ErrInvalid, cr.scope)
	}
	if eb := q.Get("entity-bytes"); eb != "" {
		rng, err := parseEntityBytes(eb)
		if err != nil {
			return carRequest{}, err
		}
		// entity-bytes is a range of the entity, so it implies that scope.
		cr.rng, cr.scope = &rng, chunk.ScopeEntity
	}
	cr.raw = fmt.Sprintf("%s|%s|%t", cr.scope, q.Get("entity-bytes"), cr.dups)
	return cr, nil
}

// parseEntityBytes parses from:to (inclusive; either may be negative, to
// may be *).
func parseEntityBytes(s string) (chunk.ByteRange, error) {
	from, to, ok := strings.Cut(s, ":")
	bad := fmt.Errorf("%w: entity-bytes %q: want from:to, to an integer or *", ErrInvalid, s)
	if !ok {
		return chunk.ByteRange{}, bad
	}
	var rng chunk.ByteRange
	var err error
	if rng.From, err = strconv.ParseInt(from, 10, 64); err != nil {
		return chunk.ByteRange{}, bad
	}
	if to == "*" {
		rng.ToEnd = true
	} else if rng.To, err = strconv.ParseInt(to, 10, 64); err != nil {
		return chunk.ByteRange{}, bad
	}
	if rng.From >= 0 && !rng.ToEnd && rng.To >= 0 && rng.To < rng.From {
		return chunk.ByteRange{}, fmt.Errorf("%w: entity-bytes %q ends before it starts", ErrInvalid, s)
	}
	return rng, nil
}

// backendGetter reads blocks through the backend, fetching what is missing.
type backendGetter struct {
	s  *Server
	ro ReadOptions
}

func (g backendGetter) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	return g.s.cfg.Backend.Block(ctx, c, g.ro)
}

// errCARLimit ends a dups=y response that repeats more than the limits
// allow.
var errCARLimit = errors.New("CAR response cut short: too many repeated blocks (dups=y)")

// serveCAR answers a CARv1 of /ipfs/root/rest: the blocks read resolving
// the path, in order, then those of what it names as the request's
// dag-scope and entity-bytes ask, depth-first, parents before children.
func (s *Server) serveCAR(w http.ResponseWriter, r *http.Request, root cid.Cid, rest string) {
	cr, err := parseCARRequest(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ctx := r.Context()
	get := backendGetter{s: s, ro: s.readOpts()}
	// The path is resolved, keeping the blocks on the way, before anything
	// is sent: a missing name is a plain 404, not a truncated CAR.
	type block struct {
		c    cid.Cid
		data []byte
	}
	var trail []block
	c, err := chunk.ResolveTrail(ctx, get, root, rest, func(b cid.Cid, data []byte) error {
		trail = append(trail, block{b, data})
		return nil
	})
	if err != nil {
		writeError(w, pathStatus(err), err)
		return
	}
	h := w.Header()
	sum := fnv.New64a()
	fmt.Fprintf(sum, "%s|%s", rest, cr.raw)
	etag := fmt.Sprintf(`"%s.car.%x"`, root, sum.Sum64())
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		h.Set("Etag", etag)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	dups := "n"
	if cr.dups {
		dups = "y"
	}
	cw := &carWriter{w: w, root: c, limits: s.carLimits(cr.dups), seen: map[string]bool{}}
	cw.start = func() error {
		immutable(h, etag)
		h.Set("Content-Type", mimeCAR+"; version=1; order=dfs; dups="+dups)
		h.Set("Accept-Ranges", "none")
		h.Set("Content-Disposition", `attachment; filename="`+c.String()+`.car"`)
		h.Set("X-Ipfs-Path", r.URL.EscapedPath())
		// An error past the header can only cut the stream short: the
		// trailer tells a client that reads it why.
		h.Set("Trailer", "X-Stream-Error")
		if r.Method == http.MethodHead {
			return errHeadDone
		}
		return nil
	}
	err = func() error {
		for _, b := range trail {
			if err := cw.put(b.c, b.data); err != nil {
				return err
			}
		}
		if cr.scope == chunk.ScopeAll && !cr.dups {
			// The whole DAG: the backend fetches what is missing in one
			// go, far faster than block by block.
			return s.cfg.Backend.Walk(ctx, c, s.readOpts(), cw.put)
		}
		return chunk.WalkScope(ctx, get, c, chunk.ScopeOptions{Scope: cr.scope, Dups: cr.dups, Range: cr.rng}, cw.put)
	}()
	if err == nil && !cw.started {
		err = cw.begin() // nothing to send (an identity CID): the header alone
	}
	switch {
	case errors.Is(err, errHeadDone):
	case err != nil && !cw.started:
		writeError(w, fetchStatus(err), err)
	case err != nil:
		cw.bw.Flush()
		h.Set("X-Stream-Error", err.Error())
	default:
		cw.bw.Flush()
	}
}

// carLimits bounds a response: with dups=y a block is sent each time the
// walk reaches it, and a DAG of a few blocks that each link the next
// thousands of times would send billions; repeats past the limits end the
// stream. Without dups every block goes once, as big as the DAG is.
func (s *Server) carLimits(dups bool) carLimits {
	if !dups {
		return carLimits{}
	}
	return carLimits{repeats: s.cfg.MaxCARRepeats, repeatBytes: s.cfg.MaxCARRepeatBytes}
}

type carLimits struct {
	repeats     int   // 0: no limit
	repeatBytes int64 // 0: no limit
}

// carWriter writes a CARv1 by hand, not with go-car, because dups=y needs
// a block written more than once, which go-car's writers refuse.
type carWriter struct {
	w       http.ResponseWriter
	bw      *bufio.Writer
	root    cid.Cid
	start   func() error // sets the headers; errHeadDone for HEAD
	started bool

	limits      carLimits
	seen        map[string]bool
	repeats     int
	repeatBytes int64
}

// begin writes the response's headers and the CAR header.
func (cw *carWriter) begin() error {
	cw.started = true
	if err := cw.start(); err != nil {
		return err
	}
	cw.bw = bufio.NewWriterSize(cw.w, 64<<10)
	_, err := cw.bw.Write(carHeader(cw.root))
	return err
}

func (cw *carWriter) put(c cid.Cid, data []byte) error {
	if !cw.started {
		if err := cw.begin(); err != nil {
			return err
		}
	}
	// dups=n needs no count: the walk sends each block once.
	if cw.limits != (carLimits{}) {
		if err := cw.count(c, len(data)); err != nil {
			return err
		}
	}
	cb := c.Bytes()
	var n [binary.MaxVarintLen64]byte
	if _, err := cw.bw.Write(n[:binary.PutUvarint(n[:], uint64(len(cb)+len(data)))]); err != nil {
		return err
	}
	if _, err := cw.bw.Write(cb); err != nil {
		return err
	}
	_, err := cw.bw.Write(data)
	return err
}

// count notes a block about to be sent, and fails once the repeats pass
// the limits.
func (cw *carWriter) count(c cid.Cid, size int) error {
	k := c.KeyString()
	if !cw.seen[k] {
		cw.seen[k] = true
		return nil
	}
	cw.repeats++
	cw.repeatBytes += int64(size)
	if (cw.limits.repeats > 0 && cw.repeats > cw.limits.repeats) ||
		(cw.limits.repeatBytes > 0 && cw.repeatBytes > cw.limits.repeatBytes) {
		return errCARLimit
	}
	return nil
}

// carHeader is a CARv1 header naming root: the varint length, then the
// dag-cbor map {"roots": [root], "version": 1}, keys in dag-cbor's
// length-first order.
func carHeader(root cid.Cid) []byte {
	cb := append([]byte{0}, root.Bytes()...) // a CID in CBOR: tag 42, bytes with a 0 prefix
	var m []byte
	m = append(m, 0xa2, 0x65)
	m = append(m, "roots"...)
	m = append(m, 0x81, 0xd8, 0x2a)
	m = cborBytesHead(m, len(cb))
	m = append(m, cb...)
	m = append(m, 0x67)
	m = append(m, "version"...)
	m = append(m, 0x01)
	out := binary.AppendUvarint(nil, uint64(len(m)))
	return append(out, m...)
}

// cborBytesHead appends the head of a CBOR byte string of n bytes.
func cborBytesHead(b []byte, n int) []byte {
	switch {
	case n < 24:
		return append(b, 0x40|byte(n))
	case n < 256:
		return append(b, 0x58, byte(n))
	default:
		return append(b, 0x59, byte(n>>8), byte(n))
	}
}
