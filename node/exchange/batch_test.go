package exchange

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// recordingBatch is a PushBatch that logs its calls, refuses blocks
// reading "refuse", and fails its commit when told to.
type recordingBatch struct {
	mu         *sync.Mutex
	log        *[]string
	failCommit bool
}

func (b recordingBatch) Take(_ context.Context, c cid.Cid, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if string(data) == "refuse" {
		*b.log = append(*b.log, "refuse "+string(data))
		return &RefusedError{Code: RefuseUnwanted, Reason: "not mine"}
	}
	*b.log = append(*b.log, "take "+string(data))
	return nil
}

func (b recordingBatch) Commit(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	*b.log = append(*b.log, "commit")
	if b.failCommit {
		return errors.New("disk on fire")
	}
	return nil
}

// waitBatches waits until identify has told cl that p takes batches.
func waitBatches(t *testing.T, cl *Client, p peer.ID) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cl.Batches(p) {
		if time.Now().After(deadline) {
			t.Fatal("identify never told the client that the server takes batches")
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

func batchServer(t *testing.T, failCommit bool) (host.Host, *sync.Mutex, *[]string) {
	t.Helper()
	server := newHost(t)
	var mu sync.Mutex
	var log []string
	srv, err := NewServer(ServerConfig{Host: server, Blocks: &mapBlocks{m: map[cid.Cid][]byte{}},
		OnPushBatch: func(peer.ID) PushBatch { return recordingBatch{mu: &mu, log: &log, failCommit: failCommit} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return server, &mu, &log
}

func items(t *testing.T, texts ...string) []PushItem {
	t.Helper()
	var out []PushItem
	for _, s := range texts {
		c, d := block(t, s)
		out = append(out, PushItem{CID: c, Data: d})
	}
	return out
}

func TestABatchOfPushesIsTakenInOrderAndAnsweredAfterOneCommit(t *testing.T) {
	for _, tc := range []struct {
		name       string
		failCommit bool
		want       string // the answers, one a block
	}{
		{"commit succeeds", false, "[stored unwanted stored]"},
		{"commit fails", true, "[busy unwanted busy]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server, mu, log := batchServer(t, tc.failCommit)
			client := newHost(t)
			connect(t, client, server)
			cl := NewClient(client)
			waitBatches(t, cl, server.ID())
			errs := cl.PushBatch(context.Background(), server.ID(), items(t, "a", "refuse", "b"))
			var got []string
			for _, err := range errs {
				var ref *RefusedError
				switch {
				case err == nil:
					got = append(got, "stored")
				case errors.As(err, &ref):
					got = append(got, ref.Code.String())
				default:
					got = append(got, err.Error())
				}
			}
			if fmt.Sprint(got) != tc.want {
				t.Fatalf("answers %v, want %s", got, tc.want)
			}
			mu.Lock()
			defer mu.Unlock()
			if s := strings.Join(*log, ", "); s != "take a, refuse refuse, take b, commit" {
				t.Fatalf("server saw %q: want every block taken, then one commit", s)
			}
		})
	}
}

func TestAPeerWithoutBatchesIsPushedOneBlockAStream(t *testing.T) {
	server, mu, log := batchServer(t, false)
	// A node that predates batches serves only ProtocolID.
	server.RemoveStreamHandler(BatchProtocolID)
	client := newHost(t)
	connect(t, client, server)
	cl := NewClient(client)
	if cl.Batches(server.ID()) {
		t.Fatal("the client thinks a server without the batch protocol takes batches")
	}
	errs := cl.PushBatch(context.Background(), server.ID(), items(t, "a", "b"))
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("pushes one at a time failed: %v", errs)
	}
	mu.Lock()
	defer mu.Unlock()
	if s := strings.Join(*log, ", "); s != "take a, commit, take b, commit" {
		t.Fatalf("server saw %q: want each block committed alone", s)
	}
}

func TestABatchThatBreaksTheProtocolIsCutOffUnansweredAndWhatItTookIsCommitted(t *testing.T) {
	tooMany := make([]string, MaxPushBatch+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprint("block ", i)
	}
	for _, tc := range []struct {
		name  string
		write func(t *testing.T, w *bufio.Writer)
	}{
		{"too many pushes", func(t *testing.T, w *bufio.Writer) {
			for _, it := range items(t, tooMany...) {
				writeFrame(w, typePush, appendCID(nil, it.CID), it.Data)
			}
		}},
		{"a want among the pushes", func(t *testing.T, w *bufio.Writer) {
			it := items(t, "a")[0]
			writeFrame(w, typePush, appendCID(nil, it.CID), it.Data)
			writeFrame(w, typeWant, appendCID(nil, it.CID))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server := newHost(t)
			var mu sync.Mutex
			var log []string
			misbehaved := make(chan error, 1)
			srv, err := NewServer(ServerConfig{Host: server, Blocks: &mapBlocks{m: map[cid.Cid][]byte{}},
				OnPushBatch: func(peer.ID) PushBatch { return recordingBatch{mu: &mu, log: &log} },
				OnMisbehave: func(_ peer.ID, err error) { misbehaved <- err }})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			client := newHost(t)
			connect(t, client, server)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			st, err := client.NewStream(ctx, server.ID(), BatchProtocolID)
			if err != nil {
				t.Fatal(err)
			}
			w := bufio.NewWriter(st)
			tc.write(t, w)
			w.Flush() // the server may reset the stream before all is sent
			st.CloseWrite()
			select {
			case err := <-misbehaved:
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("reported %v, want a protocol violation", err)
				}
			case <-ctx.Done():
				t.Fatal("the server did not report the batch as a protocol violation")
			}
			if _, _, err := readFrame(bufio.NewReader(st), anyFrame); err == nil {
				t.Fatal("the server answered a batch that broke the protocol")
			}
			mu.Lock()
			defer mu.Unlock()
			if len(log) < 2 || log[len(log)-1] != "commit" || strings.Count(strings.Join(log, ","), "commit") != 1 {
				t.Fatalf("server log %v: want the pushes taken before the violation committed once, unanswered", log)
			}
		})
	}
}
