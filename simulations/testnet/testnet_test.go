package testnet

import (
	"context"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

var cairnBin string

func TestMain(m *testing.M) {
	code := func() int {
		if Available() == nil {
			dir, err := os.MkdirTemp("", "cairn-testnet-bin-")
			if err != nil {
				panic(err)
			}
			defer os.RemoveAll(dir)
			cairnBin = filepath.Join(dir, "cairn")
			if out, err := exec.Command("go", "build", "-o", cairnBin, "github.com/cairnstore/cairn/cmd/cairn").CombinedOutput(); err != nil {
				os.Stderr.Write(out)
				panic(err)
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

func needNamespaces(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("the testnet cannot run here: %v", err)
	}
}

func TestThreeDaemonsInNamespacesTakeAnAddAndServeItFromEach(t *testing.T) {
	needNamespaces(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := "t" + time.Now().Format("150405")
	c, err := Up(ctx, Config{Bin: cairnBin, Nodes: 3, ID: id, DiskSize: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitConnected(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	data := []byte("a file in a namespace\n")
	root, _, err := c.Client.Add(ctx, 0, "ns.txt", data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		sum, n, err := c.Client.Get(ctx, i, root, "")
		if err != nil || sum != sha256.Sum256(data) || n != len(data) {
			t.Fatalf("node %d: %v (%d bytes)", i, err, n)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if ns, _ := Namespaces(id); len(ns) != 0 {
		t.Fatalf("namespaces left: %v", ns)
	}
}
