package main

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// noFollow keeps OpenFile from following a symlink at the name it opens.
const noFollow = syscall.O_NOFOLLOW

// renameNoReplace renames from to to unless something is at to already.
func renameNoReplace(from, to string) error {
	return unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
}
