package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnstore/cairn/node/repo"
)

// BenchmarkIngest1KiB adds distinct 1 KiB files through one daemon's API
// (alone, W=1) from 1 and from 16 concurrent clients on keep-alive
// connections, each add acknowledged only once its block, its index
// entry and its pin are durable. It reports adds per second; b.N is the
// number of adds.
func BenchmarkIngest1KiB(b *testing.B) {
	dir := newRepo(b)
	mustCairn(b, dir, nil, "config", "Replication.WriteQuorum", "1")
	startDaemon(b, dir)
	base, err := os.ReadFile(repo.APIFilePath(dir))
	if err != nil {
		b.Fatal(err)
	}
	tok, err := os.ReadFile(filepath.Join(dir, "api-token"))
	if err != nil {
		b.Fatal(err)
	}
	url := strings.TrimSpace(string(base)) + "/api/v1/add"
	auth := "Bearer " + strings.TrimSpace(string(tok))
	var seq atomic.Uint64
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			tr := &http.Transport{MaxIdleConnsPerHost: clients}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: time.Minute}
			var next atomic.Int64
			var wg sync.WaitGroup
			var failed atomic.Value
			b.ResetTimer()
			start := time.Now()
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					body := make([]byte, 1024)
					for next.Add(1) <= int64(b.N) {
						binary.BigEndian.PutUint64(body, seq.Add(1)) // distinct files
						req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
						req.Header.Set("Authorization", auth)
						resp, err := hc.Do(req)
						if err != nil {
							failed.Store(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusCreated {
							failed.Store(fmt.Errorf("add: %s", resp.Status))
							return
						}
					}
				}()
			}
			wg.Wait()
			el := time.Since(start)
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/el.Seconds(), "adds/s")
		})
	}
}
