package file

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// MaxSize is the largest secret file Fetch reads: what Kubernetes allows
// for a Secret (AWS Secrets Manager allows 64 KiB).
const MaxSize = 1 << 20

// The reasons Open and Read refuse a file.
var (
	ErrNotRegular = errors.New("not a regular file")
	ErrTooLarge   = errors.New("too large")
)

// Error is a file Open or ReadAll refused: its path, and why (ErrNotRegular,
// or ErrTooLarge with the limit).
type Error struct {
	Path string
	Err  error
}

func (e *Error) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// sizeError is ErrTooLarge with the limit it broke.
type sizeError struct{ limit int64 }

func (e sizeError) Error() string        { return "larger than " + size(e.limit) }
func (e sizeError) Is(target error) bool { return target == ErrTooLarge }

// size writes a limit as people read it: 1 MiB, 64 KiB, 100 bytes.
func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Open opens the regular file at path, following symlinks, if it holds at
// most limit bytes. The path is checked before it is opened, so that no
// device is ever opened (opening some has effects of its own), and the
// opened file is checked again, so that a swap in between cannot get past:
// the open neither waits for a FIFO's writer nor takes a terminal for the
// process's own, and the file's size is read from the open file. A file
// refused is an *Error; others are the os package's.
func Open(path string, limit int64) (*os.File, fs.FileInfo, error) {
	if fi, err := os.Stat(path); err == nil { // else the open says why
		if err := check(path, fi, limit); err != nil {
			return nil, nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = check(path, fi, limit)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

func check(path string, fi fs.FileInfo, limit int64) error {
	switch {
	case !fi.Mode().IsRegular():
		return &Error{path, ErrNotRegular}
	case fi.Size() > limit:
		return &Error{path, sizeError{limit}}
	}
	return nil
}

// ReadAll reads what is left of f, an Open file, never more than limit+1
// bytes: a file that grew past limit since it was opened is refused too.
func ReadAll(f *os.File, fi fs.FileInfo, limit int64) ([]byte, error) {
	var b bytes.Buffer
	// Room for the whole file and then some: ReadFrom grows (doubles) the
	// buffer when less than MinRead is free, even for the read that ends.
	b.Grow(int(min(fi.Size(), limit)) + bytes.MinRead)
	if _, err := b.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		return nil, err
	}
	if int64(b.Len()) > limit {
		return nil, &Error{f.Name(), sizeError{limit}}
	}
	return b.Bytes(), nil
}

// Read is the content of the regular file at path, if it holds at most
// limit bytes; see Open.
func Read(path string, limit int64) ([]byte, error) {
	f, fi, err := Open(path, limit)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAll(f, fi, limit)
}
