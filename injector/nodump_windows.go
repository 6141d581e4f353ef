package injector

import "errors"

// NoDumps: Windows has no per-process switch for crash dumps (Windows Error
// Reporting keeps one only where the machine is set up to).
func NoDumps() error { return errors.ErrUnsupported }
