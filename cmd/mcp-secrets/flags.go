package main

import (
	"errors"
	"strconv"
	"time"

	"github.com/spf13/pflag"
)

// Flags whose values must be positive are checked as they are parsed, so a
// bad one is a usage error (64) naming the flag, before anything resolves.

// positiveDuration is a duration flag that must be more than zero: a zero
// poll interval is a hot loop of provider calls, a zero stop timeout a
// leader never killed.
type positiveDuration struct{ d *time.Duration }

func (p positiveDuration) String() string {
	if p.d == nil {
		return ""
	}
	return p.d.String()
}

func (p positiveDuration) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if d <= 0 {
		return errors.New("must be more than 0")
	}
	*p.d = d
	return nil
}

func (positiveDuration) Type() string { return "duration" }

// durationVar registers a positive duration flag with its default.
func durationVar(fs *pflag.FlagSet, d *time.Duration, name string, def time.Duration, usage string) {
	*d = def
	fs.Var(positiveDuration{d}, name, usage)
}

// positiveSize is a byte count that must be more than zero.
type positiveSize struct{ n *int64 }

func (p positiveSize) String() string {
	if p.n == nil {
		return ""
	}
	return strconv.FormatInt(*p.n, 10)
}

func (p positiveSize) Set(s string) error {
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		return err
	}
	if n <= 0 {
		return errors.New("must be more than 0")
	}
	*p.n = n
	return nil
}

func (positiveSize) Type() string { return "bytes" }

// sizeVar registers a positive size flag with its default.
func sizeVar(fs *pflag.FlagSet, n *int64, name string, def int64, usage string) {
	*n = def
	fs.Var(positiveSize{n}, name, usage)
}
