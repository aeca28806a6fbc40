package main

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
)

// The folder the addtree bench adds: 10,000 files of 1 to 8,000 bytes
// (about 40 MB) in 100 folders, as the folders issue sets it.
const (
	treeFiles   = 10_000
	treeFolders = 100
	treeMaxFile = 8_000
	// targets: 1.5x kubo 0.42's `ipfs add -r` of such a tree here (1.1 s,
	// about 9,000 files/s) and 128 MiB of peak RSS.
	treeTargetRate = 13_500
	treeTargetRSS  = 128 << 20
)

// runAddTree times `cairn add -r` of the bench folder into a fresh repo
// each round, until the add returns (every block and the pin durable).
func runAddTree(cairn string, runs int, dir string) error {
	bin, err := filepath.Abs(cairn)
	if err != nil {
		return err
	}
	tree := filepath.Join(dir, "tree")
	bytes, err := writeBenchTree(tree)
	if err != nil {
		return err
	}
	fmt.Printf("wrote %d files (%.1f MB) in %d folders\n", treeFiles, float64(bytes)/1e6, treeFolders)
	var rates []float64
	var peak int64
	for i := range runs {
		a, err := timeAdd(bin, filepath.Join(dir, fmt.Sprintf("treerepo%d", i)), "-r", tree)
		if err != nil {
			return err
		}
		rate := treeFiles / a.seconds
		fmt.Printf("round %d: %.2fs, %.0f files/s, %.0f MB/s, peak RSS %d MiB\n",
			i+1, a.seconds, rate, float64(bytes)/1e6/a.seconds, a.maxRSS>>20)
		rates = append(rates, rate)
		peak = max(peak, a.maxRSS)
	}
	rate := median(rates)
	fmt.Printf(`
add -r of %d files of 1 to %d bytes (%.1f MB) into a fresh repo, median of %d
(timed until cairn add returns, every block and the pin fsynced):
  files per second          %8.0f   target %d (1.5x kubo 0.42's 9,000 here): %s
  peak RSS                  %5d MiB   limit %d MiB: %s
`, treeFiles, treeMaxFile, float64(bytes)/1e6, runs, rate, treeTargetRate, verdictOf(rate, treeTargetRate),
		peak>>20, treeTargetRSS>>20, verdictOf(float64(treeTargetRSS), float64(peak)))
	return nil
}

// writeBenchTree writes the bench folder (the same bytes every run) and
// returns its file bytes.
func writeBenchTree(root string) (int64, error) {
	rng := rand.New(rand.NewSource(12))
	var total int64
	buf := make([]byte, treeMaxFile)
	for i := range treeFiles {
		d := filepath.Join(root, fmt.Sprintf("dir%03d", i%treeFolders))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return 0, err
		}
		n := 1 + rng.Intn(treeMaxFile)
		rng.Read(buf[:n])
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("file%05d", i)), buf[:n], 0o644); err != nil {
			return 0, err
		}
		total += int64(n)
	}
	return total, nil
}
