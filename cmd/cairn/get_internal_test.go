package main

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestGetWritesTheWholeFileAndDropsWhatIsOnDiskFromThePageCache(t *testing.T) {
	old := writebackEvery
	writebackEvery = 256 << 10
	t.Cleanup(func() { writebackEvery = old })
	data := make([]byte, 4<<20+12345)
	rand.New(rand.NewSource(7)).Read(data)
	path := filepath.Join(t.TempDir(), "out")
	// Odd-sized reads, as from a network stream.
	if err := writeFileAtomic(path, iotest.HalfReader(bytes.NewReader(data)), nil); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("wrote %d bytes that differ from the %d read", len(got), len(data))
	}

	// Reading it above brought it all back: write it again and look at
	// what stays cached, where the file system drops pages at all.
	var fs unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(path), &fs); err != nil {
		t.Fatal(err)
	}
	switch fs.Type {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC:
	default:
		t.Skipf("file system %#x may keep pages it is told to drop", fs.Type)
	}
	if err := writeFileAtomic(path, bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), 0, len(data), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	pages := make([]byte, (len(data)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&pages[0]))); errno != 0 {
		t.Fatal(errno)
	}
	resident := 0
	for _, p := range pages[:int(writebackEvery)/os.Getpagesize()] {
		resident += int(p & 1)
	}
	if resident > 0 {
		t.Fatalf("%d pages of the first window are still cached after it went to disk", resident)
	}
}
