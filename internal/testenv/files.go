package testenv

import "runtime"

// Allocated is how many bytes f allocates on the heap: the measure of the
// bound tests (a read of an endless file would show here).
func Allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
