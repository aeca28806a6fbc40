package store

import "os"

// abandon drops the store as a crash would: files closed, nothing
// committed, no goleveldb shutdown beyond releasing its lock.
func (s *Store) abandon() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.closeFiles()
	s.db.Close() // releases the lock; pending entries were never written
}

// Abandon is abandon for the external test package.
var Abandon = (*Store).abandon

// SetTestHookBeforeIndex sets the hook a commit runs between the segments'
// fdatasync and the index batch.
func SetTestHookBeforeIndex(f func()) { testHookBeforeIndex = f }

// SetReadFault makes every segment read fail with err until it is set to
// nil again: a disk's transient read error.
func SetReadFault(err error) {
	if err == nil {
		readAt = func(f *os.File, b []byte, off int64) (int, error) { return f.ReadAt(b, off) }
		return
	}
	readAt = func(*os.File, []byte, int64) (int, error) { return 0, err }
}
