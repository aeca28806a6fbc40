package repo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// writeFileAtomic replaces name with data so that a reader, or the file
// system after a crash, sees either the old content or the new one in full:
// it writes a temp file in the same directory (rename is only atomic within
// one file system), fsyncs it, renames it over name and fsyncs the directory
// so the rename itself is durable.
func writeFileAtomic(name string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(name)
	if dir == "" {
		dir = "."
	}
	// The leading dot keeps the temp file out of casual listings; CreateTemp
	// opens it 0600, so secrets are never briefly world-readable.
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close() // may already be closed; the error is not interesting
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	// Chmod explicitly rather than rely on the umask, so modes are exact.
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory so that entries created, renamed or removed in
// it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// mkdirs creates path and any missing parents, like os.MkdirAll, and
// returns the directories this call created, outermost first. Each is made
// with os.Mkdir, so one that another process creates at the same moment
// (Mkdir fails with ErrExist) is not reported: Init's undo must never remove
// a directory it did not create, which may by then hold someone else's repo.
func mkdirs(path string) (created []string, err error) {
	var missing []string // innermost first
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		_, err := os.Lstat(p)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		missing = append(missing, p)
		if parent := filepath.Dir(p); parent == p {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		err := os.Mkdir(missing[i], 0o700)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return created, err
		}
		if err == nil {
			created = append(created, missing[i])
		}
	}
	return created, nil
}
