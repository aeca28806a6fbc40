package fetchplan

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// TestScenarios runs testdata/*.txt: events in, the plan's actions out.
// Run with -rewrite to update the expected output.
//
// The harness plays the driver's easy parts itself, as node/fetch.go
// does them: it answers Resolve from a store of held blocks, and
// TakeSlot and ReleaseSlot from a model of the node-wide slot pool.
// Commands:
//
//	new [root=r] [providers=(a,b)] [window=N] [batch=N] [stall=D] [slots=N]
//	    input: one line per inner node ("r -> a b n*3": links to a, b and
//	    three to n) and "held x y" for blocks in the store
//	tick [d=D]                  the clock moves by D (default 0)
//	arrive want=N [blocks=(x)]  blocks of want N arrive (default: all)
//	done want=N [outcome=ok|failed|violation|fatal] [donthave=(x)] [bytes=N] [elapsed=D]
//	serve want=N                every block of want N arrives, then it ends ok
//	serve-all                   serve every want in flight, and the wants
//	                            that follows, until none is left
//	found [peers=(a,b)]         the lookup named these providers
//	waits block=x               a reader waits for x
//	others take=N | free=N      other fetches take or free node-wide slots
//	counts                      how often each block was resolved and wanted
//
// Any command takes after=D: the clock moves by D, untold, before its
// event (as a driver waiting for an event does not tick the plan).
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		var h *harness
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd == "new" {
				h = newHarness(t, d)
				return h.settle()
			}
			if h == nil {
				d.Fatalf(t, "%s before new", d.Cmd)
			}
			return h.run(t, d)
		})
	})
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type harness struct {
	t       *testing.T
	p       *Plan
	now     time.Time
	names   map[cid.Cid]string
	dag     map[cid.Cid][]cid.Cid
	held    map[cid.Cid]bool
	wants   map[WantID]Action
	slots   int // node-wide slots free
	starved bool
	resolvs map[cid.Cid]int
	wanted  map[cid.Cid]int
	order   []cid.Cid // blocks by first mention, for counts
}

// nameCID is the CID a scenario's block name stands for.
func (h *harness) nameCID(name string) cid.Cid {
	sum, err := mh.Sum([]byte(name), mh.SHA2_256, -1)
	if err != nil {
		h.t.Fatal(err)
	}
	c := cid.NewCidV1(cid.Raw, sum)
	if _, ok := h.names[c]; !ok {
		h.names[c] = name
		h.order = append(h.order, c)
	}
	return c
}

func (h *harness) list(cids []cid.Cid) string {
	parts := make([]string, len(cids))
	for i, c := range cids {
		parts[i] = h.names[c]
	}
	return strings.Join(parts, " ")
}

func newHarness(t *testing.T, d *datadriven.TestData) *harness {
	t.Helper()
	h := &harness{t: t, now: epoch, names: map[cid.Cid]string{}, dag: map[cid.Cid][]cid.Cid{},
		held: map[cid.Cid]bool{}, wants: map[WantID]Action{}, slots: 1 << 30,
		resolvs: map[cid.Cid]int{}, wanted: map[cid.Cid]int{}}
	cfg := Config{Root: h.nameCID("r")}
	for _, arg := range d.CmdArgs {
		switch arg.Key {
		case "root":
			cfg.Root = h.nameCID(arg.Vals[0])
		case "providers":
			cfg.Providers = arg.Vals
		case "window":
			d.ScanArgs(t, "window", &cfg.Window)
		case "batch":
			d.ScanArgs(t, "batch", &cfg.Batch)
		case "stall":
			cfg.StallTimeout = h.duration(d, arg.Vals[0])
		case "slots":
			d.ScanArgs(t, "slots", &h.slots)
		default:
			d.Fatalf(t, "new: unknown argument %s", arg.Key)
		}
	}
	for _, line := range strings.Split(d.Input, "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0:
		case fields[0] == "held":
			for _, name := range fields[1:] {
				h.held[h.nameCID(name)] = true
			}
		case len(fields) >= 2 && fields[1] == "->":
			parent := h.nameCID(fields[0])
			for _, l := range fields[2:] {
				name, times := l, 1
				if i := strings.Index(l, "*"); i >= 0 {
					n, err := strconv.Atoi(l[i+1:])
					if err != nil {
						d.Fatalf(t, "bad link %q", l)
					}
					name, times = l[:i], n
				}
				c := h.nameCID(name)
				for range times {
					h.dag[parent] = append(h.dag[parent], c)
				}
			}
		default:
			d.Fatalf(t, "bad DAG line %q", line)
		}
	}
	h.p = New(cfg)
	return h
}

func (h *harness) duration(d *datadriven.TestData, s string) time.Duration {
	v, err := time.ParseDuration(s)
	if err != nil {
		d.Fatalf(h.t, "bad duration %q: %v", s, err)
	}
	return v
}

func (h *harness) names2CIDs(vals []string) []cid.Cid {
	out := make([]cid.Cid, len(vals))
	for i, v := range vals {
		out[i] = h.nameCID(v)
	}
	return out
}

func (h *harness) run(t *testing.T, d *datadriven.TestData) string {
	var out strings.Builder
	if d.HasArg("after") {
		// The event comes this much later, with no tick in between: the
		// driver does not tick a plan that has nothing to time.
		var s string
		d.ScanArgs(t, "after", &s)
		h.now = h.now.Add(h.duration(d, s))
	}
	switch d.Cmd {
	case "tick":
		if d.HasArg("d") {
			var s string
			d.ScanArgs(t, "d", &s)
			h.now = h.now.Add(h.duration(d, s))
		}
	case "arrive":
		var id int
		d.ScanArgs(t, "want", &id)
		w, err := h.want(id)
		if err != nil {
			return err.Error()
		}
		blocks := w.CIDs
		for _, arg := range d.CmdArgs {
			if arg.Key == "blocks" {
				blocks = h.names2CIDs(arg.Vals)
			}
		}
		h.arrive(WantID(id), blocks)
	case "done":
		if err := h.done(d); err != nil {
			return err.Error()
		}
	case "serve":
		var id int
		d.ScanArgs(t, "want", &id)
		w, err := h.want(id)
		if err != nil {
			return err.Error()
		}
		h.arrive(w.Want, w.CIDs)
		h.finish(w, Event{Kind: WantDone, Want: w.Want})
	case "serve-all":
		return h.serveAll()
	case "found":
		var peers []string
		for _, arg := range d.CmdArgs {
			if arg.Key == "peers" {
				peers = arg.Vals
			}
		}
		h.p.Step(Event{Kind: ProvidersFound, Peers: peers})
	case "waits":
		var name string
		d.ScanArgs(t, "block", &name)
		h.p.Step(Event{Kind: ReaderWaits, CID: h.nameCID(name)})
	case "others":
		var n int
		if d.HasArg("take") {
			d.ScanArgs(t, "take", &n)
			h.slots -= n
		} else {
			d.ScanArgs(t, "free", &n)
			h.freeSlots(n)
		}
	case "counts":
		return h.counts()
	default:
		d.Fatalf(t, "unknown command %s", d.Cmd)
	}
	out.WriteString(h.settle())
	return out.String()
}

// want is want#id, which must be in flight: a scenario that names
// another is wrong (its expected output shows it).
func (h *harness) want(id int) (Action, error) {
	w, ok := h.wants[WantID(id)]
	if !ok {
		return w, fmt.Errorf("error: no want#%d in flight", id)
	}
	return w, nil
}

func (h *harness) arrive(id WantID, blocks []cid.Cid) {
	for _, c := range blocks {
		h.held[c] = true
		h.p.Step(Event{Kind: BlockArrived, Want: id, CID: c, Links: h.dag[c]})
	}
}

func (h *harness) done(d *datadriven.TestData) error {
	var id int
	d.ScanArgs(h.t, "want", &id)
	w, err := h.want(id)
	if err != nil {
		return err
	}
	ev := Event{Kind: WantDone, Want: w.Want}
	for _, arg := range d.CmdArgs {
		switch arg.Key {
		case "outcome":
			switch arg.Vals[0] {
			case "ok":
			case "failed":
				ev.Outcome = WantFailed
			case "violation":
				ev.Outcome = WantViolation
			case "fatal":
				ev.Outcome, ev.Err = WantFatal, errors.New("disk full")
			default:
				d.Fatalf(h.t, "unknown outcome %s", arg.Vals[0])
			}
		case "donthave":
			ev.CIDs = h.names2CIDs(arg.Vals)
		case "bytes":
			d.ScanArgs(h.t, "bytes", &ev.Bytes)
		case "elapsed":
			ev.Elapsed = h.duration(d, arg.Vals[0])
		}
	}
	h.finish(w, ev)
	return nil
}

// finish ends a want as the driver does: its slot goes back to the pool
// before the plan hears of the end.
func (h *harness) finish(w Action, ev Event) {
	delete(h.wants, w.Want)
	if w.Slotted {
		h.freeSlots(1)
	}
	h.p.Step(ev)
}

func (h *harness) freeSlots(n int) {
	h.slots += n
	if h.starved && h.slots > 0 {
		h.starved = false
		h.p.Step(Event{Kind: SlotFreed})
	}
}

// settle ticks the plan and performs its actions until it has no more,
// answering Resolve, TakeSlot and ReleaseSlot itself.
func (h *harness) settle() string {
	var out strings.Builder
	for {
		h.p.Tick(h.now)
		acts := h.p.Ready()
		if len(acts) == 0 {
			return out.String()
		}
		for _, a := range acts {
			out.WriteString(h.perform(a))
			out.WriteByte('\n')
		}
	}
}

func (h *harness) perform(a Action) string {
	switch a.Kind {
	case Resolve:
		var missing []cid.Cid
		var heldBlocks []Held
		for _, c := range a.CIDs {
			h.resolvs[c]++
			if h.held[c] {
				heldBlocks = append(heldBlocks, Held{CID: c, Links: h.dag[c]})
			} else {
				missing = append(missing, c)
			}
		}
		h.p.Step(Event{Kind: Resolved, CIDs: missing, Held: heldBlocks})
		return "resolve " + h.list(a.CIDs)
	case SendWant:
		h.wants[a.Want] = a
		for _, c := range a.CIDs {
			h.wanted[c]++
		}
		how := "slot"
		if !a.Slotted {
			how = "no slot"
		}
		return fmt.Sprintf("want#%d %s: %s (%s)", a.Want, a.Peer, h.list(a.CIDs), how)
	case TakeSlot:
		if h.slots > 0 {
			h.slots--
			h.p.Step(Event{Kind: SlotGranted})
			return "take-slot: granted"
		}
		h.starved = true
		h.p.Step(Event{Kind: NoSlot})
		return "take-slot: none free"
	case ReleaseSlot:
		h.slots++
		return "release-slot"
	case FindProviders:
		return "find-providers " + h.names[a.CID]
	case Fail:
		return "fail: " + a.Err.Error()
	case Done:
		return "done"
	}
	h.t.Fatalf("unknown action %d", a.Kind)
	return ""
}

// serveAll serves the wants in flight, lowest first, until none is left;
// it prints each want sent and the plan's last action.
func (h *harness) serveAll() string {
	var out strings.Builder
	for len(h.wants) > 0 {
		ids := make([]WantID, 0, len(h.wants))
		for id := range h.wants {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		w := h.wants[ids[0]]
		h.arrive(w.Want, w.CIDs)
		h.finish(w, Event{Kind: WantDone, Want: w.Want})
		out.WriteString(h.settle())
	}
	return out.String()
}

// counts lists how often each block was resolved and wanted.
func (h *harness) counts() string {
	var out strings.Builder
	for _, c := range h.order {
		if h.resolvs[c] == 0 && h.wanted[c] == 0 {
			continue
		}
		fmt.Fprintf(&out, "%s: resolved %d, wanted %d\n", h.names[c], h.resolvs[c], h.wanted[c])
	}
	return out.String()
}
