package gateway_test

import (
	"bytes"
	"fmt"
	"io"
	mrand "math/rand"
	"net/http"
	"testing"

	"github.com/cairnstore/cairn/gateway"
)

// A file of many leaves is read ahead while it is served; every range,
// whatever leaves it starts, ends and jumps in, must still come back
// exact, and so must the whole file after ServeContent's sniff and seek.
func TestRangesOfAManyLeafFileComeBackExact(t *testing.T) {
	srv, _ := newGateway(t, func(c *gateway.Config) { c.MaxUploadSize = 8 << 20 })
	data := make([]byte, 2_500_000) // ten leaves
	mrand.New(mrand.NewSource(11)).Read(data)
	url := srv.URL + "/ipfs/" + addVia(t, srv, data)
	get := func(rng string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}
	if status, b := get(""); status != http.StatusOK || !bytes.Equal(b, data) {
		t.Fatalf("whole file: %d, %d bytes (equal: %v)", status, len(b), bytes.Equal(b, data))
	}
	for _, r := range [][2]int{
		{300_000, 1_500_000},   // five leaves from inside the second
		{262_144, 786_431},     // exactly leaves 1 and 2
		{2_000_000, 2_499_999}, // to the end
		{10, 20},
	} {
		status, b := get(fmt.Sprintf("bytes=%d-%d", r[0], r[1]))
		if status != http.StatusPartialContent || !bytes.Equal(b, data[r[0]:r[1]+1]) {
			t.Fatalf("range %d-%d: %d, %d bytes", r[0], r[1], status, len(b))
		}
	}
	// Two ranges: ServeContent writes a multipart body through a pipe,
	// which the response copies without the reader's own buffers.
	if status, b := get("bytes=5-14,600000-600009"); status != http.StatusPartialContent ||
		!bytes.Contains(b, data[5:15]) || !bytes.Contains(b, data[600_000:600_010]) {
		t.Fatalf("two ranges: %d, %d bytes", status, len(b))
	}
	if status, b := get("bytes=-700000"); status != http.StatusPartialContent || !bytes.Equal(b, data[len(data)-700_000:]) {
		t.Fatalf("suffix range: %d, %d bytes", status, len(b))
	}
	// More than gateway.MaxRanges ranges: the whole file, not a multipart
	// body that has the node read the file once per range.
	many := "bytes=0-0"
	for i := 1; i <= gateway.MaxRanges; i++ {
		many += fmt.Sprintf(",%d-%d", i*100_000, i*100_000+9)
	}
	if status, b := get(many); status != http.StatusOK || !bytes.Equal(b, data) {
		t.Fatalf("%d ranges: %d, %d bytes; want the whole file", gateway.MaxRanges+1, status, len(b))
	}
	// Ranges that merge into one come back as that one range.
	if status, b := get("bytes=100-199,150-299,300-399"); status != http.StatusPartialContent || !bytes.Equal(b, data[100:400]) {
		t.Fatalf("merged ranges: %d, %d bytes", status, len(b))
	}
}
