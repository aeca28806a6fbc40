package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// runReadAfter times, for each page-cache policy of the store, `add`
// of a random file through a daemon's API and then the first and second
// GET of it from the same daemon's gateway: the first GET right after an
// add reads what the add just wrote.
func runReadAfter(cairn string, size int64, runs int, dir string) error {
	bin, err := filepath.Abs(cairn)
	if err != nil {
		return err
	}
	input := filepath.Join(dir, "input")
	fmt.Printf("writing %d MiB of random input...\n", size>>20)
	if err := writeRandom(input, size); err != nil {
		return err
	}
	policies := []struct {
		name string
		set  [][2]string
	}{
		{"drop at once", nil},
		{"keep the last 1 GiB", [][2]string{{"Storage.WrittenCache", "1GiB"}}},
		{"keep all", [][2]string{{"Storage.KeepWrittenCache", "true"}}},
	}
	type result struct{ add, first, second []float64 }
	results := make([]result, len(policies))
	for round := range runs {
		for i, p := range policies {
			add, first, second, err := readAfterRound(bin, filepath.Join(dir, fmt.Sprintf("ra%d-%d", round, i)), input, size, p.set)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			fmt.Printf("round %d, %-20s add %6.0f MB/s, first GET %6.0f MB/s, second GET %6.0f MB/s\n", round+1, p.name, add, first, second)
			results[i].add = append(results[i].add, add)
			results[i].first = append(results[i].first, first)
			results[i].second = append(results[i].second, second)
		}
	}
	fmt.Printf("\nadd, then GET twice, of %d MiB through one daemon, medians of %d (MB/s):\n", size>>20, runs)
	for i, p := range policies {
		fmt.Printf("  %-20s add %6.0f   first GET %6.0f   second GET %6.0f\n", p.name,
			median(results[i].add), median(results[i].first), median(results[i].second))
	}
	fmt.Println("kubo 0.42 on this machine (from the speed issue): first GET 1,144 MB/s, second 1,155")
	return nil
}

func readAfterRound(bin, repoDir, input string, size int64, set [][2]string) (add, first, second float64, err error) {
	env := append(os.Environ(), "CAIRN_PATH="+repoDir)
	defer os.RemoveAll(repoDir)
	run := func(args ...string) error {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("cairn %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run("init"); err != nil {
		return 0, 0, 0, err
	}
	for _, kv := range set {
		if err := run("config", kv[0], kv[1]); err != nil {
			return 0, 0, 0, err
		}
	}
	daemon := exec.Command(bin, "daemon", "--listen", "/ip4/127.0.0.1/tcp/0", "--gateway", "127.0.0.1:0")
	daemon.Env = env
	if err := daemon.Start(); err != nil {
		return 0, 0, 0, err
	}
	defer func() { daemon.Process.Kill(); daemon.Wait() }()
	var base string
	for deadline := time.Now().Add(30 * time.Second); ; {
		if b, err := os.ReadFile(filepath.Join(repoDir, "api")); err == nil {
			base = strings.TrimSpace(string(b))
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, 0, fmt.Errorf("the daemon published no API address within 30s")
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	tok, err := os.ReadFile(filepath.Join(repoDir, "api-token"))
	if err != nil {
		return 0, 0, 0, err
	}
	f, err := os.Open(input)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	ctx := context.Background()
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/add", f)
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, 0, err
	}
	var res struct{ Cid string }
	err = json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated {
		return 0, 0, 0, fmt.Errorf("add: %s %v", resp.Status, err)
	}
	add = float64(size) / 1e6 / time.Since(start).Seconds()
	get := func() (float64, error) {
		start := time.Now()
		resp, err := http.Get(base + "/ipfs/" + res.Cid)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil || n != size {
			return 0, fmt.Errorf("GET: %d of %d bytes: %v", n, size, err)
		}
		return float64(size) / 1e6 / time.Since(start).Seconds(), nil
	}
	if first, err = get(); err != nil {
		return 0, 0, 0, err
	}
	if second, err = get(); err != nil {
		return 0, 0, 0, err
	}
	return add, first, second, nil
}
