package injector

import "os"

// directWriter: pipes on Windows are not non-blocking; every write goes
// through the queue's goroutine.
func directWriter(*os.File) func([]byte) ([]byte, error) { return nil }
