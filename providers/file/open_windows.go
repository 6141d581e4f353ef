//go:build windows

package file

// openFlags are none on Windows, where opening a named pipe does not wait
// for the other end and there is no controlling terminal to take.
const openFlags = 0
