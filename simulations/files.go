package simulations

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/node"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// File is a file written into the network, with what it takes to check
// it later: its digest, and the keys of its blocks.
type File struct {
	Root   cid.Cid
	Size   int
	Sum    [32]byte
	Keys   []mh.Multihash
	Adder  *Member
	Copies int // durable copies when Add returned
}

// Acked says whether the write was acknowledged: Add returned with the
// write quorum's copies. Only acknowledged files must survive.
func (f File) Acked(quorum int) bool { return f.Copies >= quorum }

// AddFile writes size random bytes through m.
func (nw *Network) AddFile(ctx context.Context, m *Member, size int) (File, error) {
	data := make([]byte, size)
	nw.Read(data)
	res, err := m.Node.Add(ctx, bytes.NewReader(data), chunk.AddOptions{})
	if err != nil {
		return File{}, fmt.Errorf("simulations: add on %s: %w", m, err)
	}
	f := File{Root: res.Root, Size: size, Sum: sha256.Sum256(data), Adder: m, Copies: res.Copies}
	err = chunk.WalkCIDs(ctx, m.Node.Store(), res.Root, func(c cid.Cid) error {
		f.Keys = append(f.Keys, c.Hash())
		return nil
	})
	if err != nil {
		return File{}, fmt.Errorf("simulations: list blocks of %s: %w", res.Root, err)
	}
	return f, nil
}

// ReadFile reads f through m (fetching what m lacks), checks every byte,
// and then collects m's cached copies, so that reads do not pose as
// replicas in the copy counts.
func (nw *Network) ReadFile(ctx context.Context, m *Member, f File, stall time.Duration) error {
	s, err := m.Node.Stream(ctx, f.Root, node.FetchOptions{StallTimeout: stall})
	if err != nil {
		return fmt.Errorf("simulations: read %s on %s: %w", f.Root, m, err)
	}
	h := sha256.New()
	n, err := io.Copy(h, s)
	s.Close()
	if err != nil {
		return fmt.Errorf("simulations: read %s on %s: %w", f.Root, m, err)
	}
	if n != int64(f.Size) || !bytes.Equal(h.Sum(nil), f.Sum[:]) {
		return fmt.Errorf("simulations: read %s on %s: content differs (%d bytes)", f.Root, m, n)
	}
	if _, err := m.Node.GC(ctx); err != nil && ctx.Err() == nil {
		return fmt.Errorf("simulations: collect after read on %s: %w", m, err)
	}
	return nil
}

// Holders lists the live members whose store holds key. This is ground
// truth read off the stores, not what the nodes believe.
func (nw *Network) Holders(key mh.Multihash) []*Member {
	c := cid.NewCidV1(cid.Raw, key)
	var out []*Member
	for _, m := range nw.Live() {
		if ok, err := m.Node.Store().Has(c); err == nil && ok {
			out = append(out, m)
		}
	}
	return out
}

// MinLive is the fewest live copies any block of the files has, and the
// key of one such block.
func (nw *Network) MinLive(files []File) (int, mh.Multihash) {
	low, lowKey := -1, mh.Multihash(nil)
	for _, f := range files {
		for _, k := range f.Keys {
			if n := len(nw.Holders(k)); low < 0 || n < low {
				low, lowKey = n, k
			}
		}
	}
	return low, lowKey
}

// WaitCopies polls until every block of the files has at least want live
// copies, or ctx ends.
func (nw *Network) WaitCopies(ctx context.Context, files []File, want int) error {
	for {
		low, key := nw.MinLive(files)
		if low >= want || len(files) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("simulations: block %s has %d live copies, want %d: %w", key.B58String(), low, want, ctx.Err())
		case <-time.After(100 * time.Millisecond): // poll interval
		}
	}
}

// WaitSettled polls until every block of the files has at least least
// live copies and at most most copies besides its writer's.
func (nw *Network) WaitSettled(ctx context.Context, files []File, least, most int) error {
	for {
		bad := ""
	check:
		for _, f := range files {
			for _, k := range f.Keys {
				hs := nw.Holders(k)
				others := len(hs)
				for _, h := range hs {
					if h == f.Adder {
						others--
					}
				}
				if len(hs) < least || others > most {
					bad = fmt.Sprintf("block %s: %d live copies, %d besides its writer's", k.B58String(), len(hs), others)
					break check
				}
			}
		}
		if bad == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("simulations: not settled: %s (want %d..%d): %w", bad, least, most, ctx.Err())
		case <-time.After(100 * time.Millisecond): // poll interval
		}
	}
}

// Corrupt flips one byte in the middle of key's block in m's segment
// files, as a rotting disk would, behind the store's back.
func (nw *Network) Corrupt(m *Member, key mh.Multihash) error {
	st := m.Node.Store()
	data, err := st.GetHash(key)
	if err != nil {
		return fmt.Errorf("simulations: corrupt %s on %s: %w", key.B58String(), m, err)
	}
	segs, err := filepath.Glob(filepath.Join(m.Dir, "blocks", "*.seg"))
	if err != nil {
		return err
	}
	// A block dropped and fetched again leaves a dead record behind the
	// live one; flipping a byte there would rot nothing. Flip each copy
	// of the bytes in turn until the store itself reads the block bad.
	for _, seg := range segs {
		b, err := os.ReadFile(seg)
		if err != nil {
			return err
		}
		for from := 0; ; {
			at := bytes.Index(b[from:], data)
			if at < 0 {
				break
			}
			off := int64(from + at + len(data)/2)
			from += at + 1
			rotted, err := flipByte(seg, off, b[off], func() bool {
				_, err := st.GetHash(key)
				return err != nil
			})
			if err != nil || rotted {
				return err
			}
		}
	}
	return fmt.Errorf("simulations: corrupt %s on %s: no live copy found in its segments", key.B58String(), m)
}

// flipByte flips a bit of the byte at off in file, keeps the change if
// took says it took, and puts the byte back otherwise.
func flipByte(file string, off int64, was byte, took func() bool) (bool, error) {
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		return false, err
	}
	_, err = f.WriteAt([]byte{was ^ 0x40}, off)
	rotted := err == nil && took()
	if err == nil && !rotted {
		_, err = f.WriteAt([]byte{was}, off)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return rotted && err == nil, err
}
