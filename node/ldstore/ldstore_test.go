package ldstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsleveldb "github.com/ipfs/go-ds-leveldb"
	"golang.org/x/sys/unix"
)

// smallDisk mounts a 4 MiB tmpfs for the test (root only).
func smallDisk(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small file system to fill needs root")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// fill writes a file until the disk is full, and returns a func that
// removes it.
func fill(t *testing.T, dir string) func() {
	t.Helper()
	name := filepath.Join(dir, "fill")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	return func() {
		if err := os.Remove(name); err != nil {
			t.Fatal(err)
		}
	}
}

// putUntilFull writes values until a write fails for want of space.
func putUntilFull(t *testing.T, d ds.Datastore) error {
	t.Helper()
	val := make([]byte, 32<<10)
	for i := range 1000 {
		if err := d.Put(context.Background(), ds.NewKey("k").ChildString(string(rune('a'+i%26))+string(rune(i))), val); err != nil {
			return err
		}
	}
	t.Fatal("1000 writes of 32 KiB fit on a full 4 MiB disk")
	return nil
}

func TestPlainGoleveldbStaysStuckAfterADiskWasFull(t *testing.T) {
	dir := smallDisk(t)
	d, err := dsleveldb.NewDatastore(filepath.Join(dir, "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	free := fill(t, dir)
	if err := putUntilFull(t, d); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write on a full disk: %v, want ENOSPC", err)
	}
	free()
	if err := d.Put(context.Background(), ds.NewKey("after"), []byte("x")); err == nil {
		t.Skip("this goleveldb recovers by itself: the reopening is no longer needed")
	}
}

func TestWritesWorkAgainOnceTheDiskHasRoom(t *testing.T) {
	dir := smallDisk(t)
	var logs []string
	db, err := Open(filepath.Join(dir, "db"), nil, func(f string, a ...any) { logs = append(logs, f) })
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d := db.Datastore()
	ctx := context.Background()
	if err := d.Put(ctx, ds.NewKey("before"), []byte("kept")); err != nil {
		t.Fatal(err)
	}
	free := fill(t, dir)
	if err := putUntilFull(t, d); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write on a full disk: %v, want ENOSPC", err)
	}
	free()
	// Reopening is tried at most once a second while it fails.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := d.Put(ctx, ds.NewKey("after"), []byte("new"))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("write once the disk has room: %v (log: %v)", err, logs)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	for k, want := range map[string]string{"/before": "kept", "/after": "new"} {
		if v, err := d.Get(ctx, ds.NewKey(k)); err != nil || string(v) != want {
			t.Errorf("%s: %q, %v; want %q", k, v, err, want)
		}
	}
	// The reference index's calls go through the same database.
	if err := db.Put([]byte("raw"), []byte("v"), nil); err != nil {
		t.Fatal(err)
	}
	if ok, err := db.Has([]byte("raw"), nil); !ok || err != nil {
		t.Fatalf("raw key: %v %v", ok, err)
	}
}

func TestClosedDatabaseRefusesCalls(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "db"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := db.Get([]byte("k"), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
}
