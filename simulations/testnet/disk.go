package testnet

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Disk is a node's own small file system, a size-limited tmpfs, so the
// schedule can fill it.
type Disk struct {
	Dir string
}

// fillName is the file that fills a disk.
const fillName = "fill.bin"

// NewDisk mounts a tmpfs of size bytes at dir (made if missing).
func NewDisk(dir string, size int64) (*Disk, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("testnet: disk: %w", err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		return nil, fmt.Errorf("testnet: mount tmpfs at %s: %w", dir, err)
	}
	return &Disk{Dir: dir}, nil
}

// Close unmounts the disk (lazily, should a process still hold a file).
func (d *Disk) Close() error {
	if err := unix.Unmount(d.Dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("testnet: unmount %s: %w", d.Dir, err)
	}
	return nil
}

// Fill writes a file until the disk has no room left; Free removes it.
func (d *Disk) Fill() (int64, error) {
	f, err := os.OpenFile(filepath.Join(d.Dir, fillName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, fmt.Errorf("testnet: fill %s: %w", d.Dir, err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		w, err := f.Write(buf)
		n += int64(w)
		if errors.Is(err, syscall.ENOSPC) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("testnet: fill %s: %w", d.Dir, err)
		}
		if w < len(buf) {
			return n, nil
		}
	}
}

// Free removes what Fill wrote.
func (d *Disk) Free() error {
	err := os.Remove(filepath.Join(d.Dir, fillName))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Mounted lists the mount points under root still mounted (the test of a
// clean teardown uses it).
func Mounted(root string) ([]string, error) {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		var dev, point string
		if _, err := fmt.Sscan(line, &dev, &point); err == nil && len(point) >= len(root) && point[:len(root)] == root {
			out = append(out, point)
		}
	}
	return out, nil
}
