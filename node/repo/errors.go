package repo

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap one of these (check
// with errors.Is) and carry a message meant to be shown to users as is.
var (
	// ErrNotInitialized means the directory, its config or its version file
	// is missing. Users should be told to run `cairn init`.
	ErrNotInitialized = errors.New("repo: not initialized")
	// ErrExists means Init found a config or version file already there.
	ErrExists = errors.New("repo: already initialized")
	// ErrNotEmpty means Init was pointed at a directory that holds files
	// but no repository; Init refuses rather than mix a repo into it.
	ErrNotEmpty = errors.New("repo: directory not empty")
	// ErrLocked means another process (or another Repo in this process)
	// holds the repository lock.
	ErrLocked = errors.New("repo: locked by another process")
	// ErrVersion means the repository format version is not Version, or the
	// version file is unreadable.
	ErrVersion = errors.New("repo: unsupported format version")
	// ErrUnknownKey means a dotted config key names no config field.
	ErrUnknownKey = errors.New("config: unknown key")
	// ErrBadValue means a config value does not parse or fails validation.
	ErrBadValue = errors.New("config: malformed value")
)

// wrappedError carries a complete user-facing message while still matching
// a sentinel (and an optional underlying cause) with errors.Is/As. Plain
// fmt.Errorf("%w: ...") would prefix every message with the sentinel text,
// which reads badly for messages such as "repo X is locked by ...".
type wrappedError struct {
	msg  string
	errs []error
}

func (e *wrappedError) Error() string   { return e.msg }
func (e *wrappedError) Unwrap() []error { return e.errs }

// newError returns an error with the formatted message that wraps sentinel
// and, if non-nil, cause.
func newError(sentinel, cause error, format string, args ...any) error {
	errs := []error{sentinel}
	if cause != nil {
		errs = append(errs, cause)
	}
	return &wrappedError{msg: fmt.Sprintf(format, args...), errs: errs}
}

// badValue returns an ErrBadValue error whose message starts with the
// sentinel's text, e.g. `config: malformed value: size "x": ...`.
func badValue(format string, args ...any) error {
	return newError(ErrBadValue, nil, ErrBadValue.Error()+": "+format, args...)
}
