package webhook

import (
	"strconv"
	"strings"
)

// op is one JSON Patch (RFC 6902) operation. The webhook only adds and
// replaces: it never removes what a pod's author wrote.
type op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// pointer is the JSON Pointer of tokens: strings are keys (escaped), ints
// are array indices.
func pointer(tokens ...any) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		switch t := t.(type) {
		case int:
			b.WriteString(strconv.Itoa(t))
		case string:
			// RFC 6901: "~" first, so the "~1" written for "/" stays.
			b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
		}
	}
	return b.String()
}

// patch collects the operations of one admission.
type patch struct {
	ops []op
}

// append adds values at the end of the array at path, which exists only
// if present: when it does not, one operation adds it whole (an "add"
// below a missing member fails).
func (p *patch) append(path string, present bool, values ...any) {
	if len(values) == 0 {
		return
	}
	if !present {
		p.ops = append(p.ops, op{"add", path, values})
		return
	}
	for _, v := range values {
		p.ops = append(p.ops, op{"add", path + "/-", v})
	}
}

// prepend adds value first in the array at path. It shifts the indices of
// that array, so it must be the last operation that names one of them.
func (p *patch) prepend(path string, present bool, value any) {
	if !present {
		p.ops = append(p.ops, op{"add", path, []any{value}})
		return
	}
	p.ops = append(p.ops, op{"add", path + "/0", value})
}

func (p *patch) replace(path string, value any) {
	p.ops = append(p.ops, op{"replace", path, value})
}
