package gateway_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cairnstore/cairn/chunk"
	"github.com/cairnstore/cairn/gateway"
	"github.com/ipfs/go-cid"
)

// keysOf is the sorted keys of a JSON object.
func keysOf(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, raw)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// uploadNamed adds data through the API under name and returns its CID.
func uploadNamed(t *testing.T, base, name string, data []byte) string {
	t.Helper()
	resp, body := do(t, "POST", base+"/api/v1/add?name="+name, testToken, bytes.NewReader(data))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("add: %d %s", resp.StatusCode, body)
	}
	var added gateway.AddResponse
	if err := json.Unmarshal(body, &added); err != nil {
		t.Fatal(err)
	}
	return added.Cid
}

// /api/v1/status is read by tools: its keys are exactly the documented
// ones, and reading it needs no token.
func TestStatusJSONHasExactlyTheDocumentedKeys(t *testing.T) {
	srv, n := newGateway(t)
	data := bytes.Repeat([]byte("cluster "), 100_000)
	root := uploadNamed(t, srv.URL, "notes.txt", data)

	resp, body := do(t, "GET", srv.URL+"/api/v1/status", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status: %d %s", resp.StatusCode, body)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keysOf(t, body), ","); got != "nodes,pins" {
		t.Fatalf("status keys %s, want nodes,pins", got)
	}
	if got := strings.Join(keysOf(t, top["pins"]), ","); got != "bytes,count" {
		t.Errorf("pins keys %s, want bytes,count", got)
	}
	var nodes []json.RawMessage
	if err := json.Unmarshal(top["nodes"], &nodes); err != nil || len(nodes) != 1 {
		t.Fatalf("nodes %s: %v, want this node alone", top["nodes"], err)
	}
	const nodeKeys = "blocks,capacity,id,last_seen,repairing,state,under_replicated,used"
	if got := strings.Join(keysOf(t, nodes[0]), ","); got != nodeKeys {
		t.Errorf("node keys %s, want %s", got, nodeKeys)
	}

	var st gateway.ClusterStatus
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	self := st.Nodes[0]
	if self.ID != n.ID().String() || self.State != "up" || self.Blocks == 0 || self.Used == 0 {
		t.Errorf("this node's status: %+v", self)
	}
	var lastSeen struct {
		LastSeen string `json:"last_seen"`
	}
	json.Unmarshal(nodes[0], &lastSeen)
	if _, err := time.Parse(time.RFC3339, lastSeen.LastSeen); err != nil {
		t.Errorf("last_seen %q is not RFC 3339: %v", lastSeen.LastSeen, err)
	}
	if st.Pins.Count != 1 || st.Pins.Bytes < uint64(len(data)) {
		t.Errorf("pins %+v, want the one upload of at least %d bytes", st.Pins, len(data))
	}

	// The upload's pin carries its name, in the list and in its status.
	resp, body = do(t, "GET", srv.URL+"/api/v1/pins", "", nil)
	var pins gateway.PinsResponse
	if err := json.Unmarshal(body, &pins); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("pins: %d %s (%v)", resp.StatusCode, body, err)
	}
	if len(pins.Entries) != 1 || pins.Entries[0].CID != root || pins.Entries[0].Name != "notes.txt" ||
		pins.Entries[0].By != n.ID().String() {
		t.Errorf("pins %s, want %s named notes.txt", body, root)
	}
	resp, body = do(t, "GET", srv.URL+"/api/v1/status/"+root, "", nil)
	var ps gateway.PinStatus
	if err := json.Unmarshal(body, &ps); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("pin status: %d %s (%v)", resp.StatusCode, body, err)
	}
	if ps.Pin.Name != "notes.txt" || len(ps.Chunks) == 0 || ps.Chunks[0].CID != root || ps.MinLive < 1 || ps.Factor < 1 {
		t.Errorf("pin status %s", body)
	}
}

func TestPinRoutesRefuseBadInput(t *testing.T) {
	srv, n := newGateway(t)
	held := addBytes(t, n, []byte("held here")).String()
	unknownCID, err := chunk.NewCID(chunk.SHA2_256, cid.Raw, []byte("never added anywhere"))
	if err != nil {
		t.Fatal(err)
	}
	unknown := unknownCID.String()
	for _, tc := range []struct {
		name, method, path, token string
		status                    int
	}{
		{"pin of a malformed CID", "POST", "/api/v1/pins/not-a-cid", testToken, http.StatusBadRequest},
		{"unpin of a malformed CID", "DELETE", "/api/v1/pins/not-a-cid", testToken, http.StatusBadRequest},
		{"status of a malformed CID", "GET", "/api/v1/status/not-a-cid", "", http.StatusBadRequest},
		{"unpin of a CID nobody pinned", "DELETE", "/api/v1/pins/" + unknown, testToken, http.StatusNotFound},
		{"status of a CID nobody pinned", "GET", "/api/v1/status/" + unknown, "", http.StatusNotFound},
		{"negative replicas", "POST", "/api/v1/pins/" + held + "?replicas=-1", testToken, http.StatusBadRequest},
		{"replicas not a number", "POST", "/api/v1/pins/" + held + "?replicas=three", testToken, http.StatusBadRequest},
		{"replicas past the set's limit", "POST", "/api/v1/pins/" + held + "?replicas=65", testToken, http.StatusBadRequest},
		{"replicas other than the cluster's R", "POST", "/api/v1/pins/" + held + "?replicas=2", testToken, http.StatusBadRequest},
		{"a name with a newline", "POST", "/api/v1/pins/" + held + "?name=a%0Ab", testToken, http.StatusBadRequest},
		{"a name too long", "POST", "/api/v1/pins/" + held + "?name=" + strings.Repeat("n", 256), testToken, http.StatusBadRequest},
		{"an add named with a newline", "POST", "/api/v1/add?name=a%0Ab", testToken, http.StatusBadRequest},
		{"pin without the token", "POST", "/api/v1/pins/" + held, "", http.StatusUnauthorized},
		{"unpin without the token", "DELETE", "/api/v1/pins/" + held, "", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, tc.method, srv.URL+tc.path, tc.token, strings.NewReader("x"))
			if resp.StatusCode != tc.status {
				t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, resp.StatusCode, body, tc.status)
			}
		})
	}

	// None of the refused calls touched the held file's pin; a good pin
	// names it, and an unpin then takes it out of the set.
	resp, body := do(t, "POST", srv.URL+"/api/v1/pins/"+held+"?name=again&replicas=3", testToken, nil)
	var pinned gateway.PinResponse
	if err := json.Unmarshal(body, &pinned); resp.StatusCode != http.StatusOK || err != nil || pinned.Copies < 1 {
		t.Fatalf("pin: %d %s (%v)", resp.StatusCode, body, err)
	}
	resp, body = do(t, "GET", srv.URL+"/api/v1/status/"+held, "", nil)
	var ps gateway.PinStatus
	if err := json.Unmarshal(body, &ps); resp.StatusCode != http.StatusOK || err != nil || ps.Pin.Name != "again" || ps.Pin.Replicas != 3 || ps.Factor != 3 {
		t.Fatalf("pin status after a named pin: %d %s (%v)", resp.StatusCode, body, err)
	}
	if resp, body := do(t, "DELETE", srv.URL+"/api/v1/pins/"+held, testToken, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("unpin: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, "DELETE", srv.URL+"/api/v1/pins/"+held, testToken, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("second unpin: %d %s, want 404", resp.StatusCode, body)
	}
}

// failingPins is the real backend whose listing fails after the first
// pin, as a daemon whose store errs midway would.
type failingPins struct{ gateway.Backend }

func (f failingPins) Pins(ctx context.Context, fn func(gateway.PinInfo) error) error {
	n := 0
	return f.Backend.Pins(ctx, func(p gateway.PinInfo) error {
		if n++; n > 1 {
			return errors.New("store: read failed")
		}
		return fn(p)
	})
}

func TestAPinListThatFailsMidwayNeverReadsAsComplete(t *testing.T) {
	srv, _ := newGateway(t, func(c *gateway.Config) { c.Backend = failingPins{c.Backend} })
	for i := range 3 {
		uploadNamed(t, srv.URL, fmt.Sprint("f", i), []byte(fmt.Sprint("file ", i)))
	}
	// The reply is cut: the request fails, or its body does, or what
	// arrived does not parse. Never a whole list.
	resp, err := http.Get(srv.URL + "/api/v1/pins")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(resp.Body)
	var list gateway.PinsResponse
	if rerr == nil && json.Unmarshal(body, &list) == nil {
		t.Fatalf("a listing cut short by an error parsed as a complete list of %d pins", len(list.Entries))
	}
}

func TestTheTokenProofAnswersANonceAndRefusesABadOne(t *testing.T) {
	srv, _ := newGateway(t)
	nonce := bytes.Repeat([]byte{7}, 32)
	resp, body := do(t, "GET", srv.URL+"/api/v1/auth/proof?nonce="+hex.EncodeToString(nonce), "", nil)
	var p gateway.ProofResponse
	if err := json.Unmarshal(body, &p); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("proof: %d %s", resp.StatusCode, body)
	}
	if p.Proof != gateway.TokenProof(testToken, nonce) || p.Proof == gateway.TokenProof("another token 0123", nonce) {
		t.Errorf("proof %s does not match the token", p.Proof)
	}
	for _, bad := range []string{"", "zz", hex.EncodeToString(make([]byte, 8)), hex.EncodeToString(make([]byte, 65))} {
		if resp, body := do(t, "GET", srv.URL+"/api/v1/auth/proof?nonce="+bad, "", nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("nonce %q: %d %s, want 400", bad, resp.StatusCode, body)
		}
	}
}

// DNS rebinding: a page whose name now points at the API's address calls
// it with its own Host. The API answers only its own names; /ipfs/ reads
// are for any name.
func TestTheAPIRefusesAHostThatIsNotItsOwn(t *testing.T) {
	srv, _ := newGateway(t, func(c *gateway.Config) { c.APIHosts = []string{"cairn.test:80"} })
	root := uploadNamedAs(t, srv.URL, "cairn.test:80", "f", []byte("hello"))
	get := func(path, host string) int {
		t.Helper()
		req, err := http.NewRequest("GET", srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		path, host string
		want       int
	}{
		{"/api/v1/id", "cairn.test:80", http.StatusOK},
		{"/api/v1/id", "CAIRN.test:80", http.StatusOK},
		{"/api/v1/id", "evil.example:80", http.StatusMisdirectedRequest},
		{"/api/v1/pins", "evil.example:80", http.StatusMisdirectedRequest},
		{"/ipfs/" + root, "evil.example:80", http.StatusOK},
	} {
		if got := get(tc.path, tc.host); got != tc.want {
			t.Errorf("GET %s as %s: %d, want %d", tc.path, tc.host, got, tc.want)
		}
	}
}

// uploadNamedAs is uploadNamed with the request's Host set.
func uploadNamedAs(t *testing.T, base, host, name string, data []byte) string {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/api/v1/add?name="+name, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var added gateway.AddResponse
	if err := json.NewDecoder(resp.Body).Decode(&added); resp.StatusCode != http.StatusCreated || err != nil {
		t.Fatalf("add: %d (%v)", resp.StatusCode, err)
	}
	return added.Cid
}
