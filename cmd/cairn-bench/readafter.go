package main

import (
	"fmt"
	"os"
	"path/filepath"
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
	defer os.RemoveAll(repoDir)
	d, err := startBenchDaemon(bin, repoDir, set)
	if err != nil {
		return 0, 0, 0, err
	}
	defer d.stop()
	start := time.Now()
	root, err := d.addFile(input)
	if err != nil {
		return 0, 0, 0, err
	}
	add = float64(size) / 1e6 / time.Since(start).Seconds()
	if first, err = d.getRate(root, size); err != nil {
		return 0, 0, 0, err
	}
	if second, err = d.getRate(root, size); err != nil {
		return 0, 0, 0, err
	}
	return add, first, second, nil
}
