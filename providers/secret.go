package providers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Secret is a value fetched from a store, with its version. It never prints
// its value: not with fmt, not in a log, not in JSON. Reveal is the one way out.
type Secret struct {
	value string
	// Version is the store's version id of what was fetched, "" if it has none.
	Version string
	// Lease is set for secrets the store leases (Vault dynamic credentials).
	Lease Lease
	// Structured marks a store that holds key/value data (Vault): without a
	// #field, a secret with exactly one key means that key's value.
	Structured bool
}

// Lease describes a leased secret.
type Lease struct {
	ID        string
	TTL       time.Duration
	Renewable bool
}

// NewSecret returns a secret holding value.
func NewSecret(value, version string) Secret { return Secret{value: value, Version: version} }

// Reveal returns the value. Call it only where the value is handed to a child.
func (s Secret) Reveal() string { return s.value }

// Len is the length of the value, for masks that show its size.
func (s Secret) Len() int { return len(s.value) }

const redacted = "[REDACTED]"

func (s Secret) String() string             { return redacted }
func (s Secret) GoString() string           { return redacted }
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }
func (s Secret) LogValue() slog.Value       { return slog.StringValue(redacted) }

// MarshalText covers encoding/json and every text encoder.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Field extracts a dotted key from the JSON object the secret holds. Errors
// name the field and the keys that exist, never any value.
func (s Secret) Field(field string) (Secret, error) {
	v, err := s.decode()
	if err != nil {
		return Secret{}, notJSON(field)
	}
	return s.fieldOf(v, field)
}

// decode parses the value as JSON, once per secret however many fields
// are read from it.
func (s Secret) decode() (any, error) {
	var v any
	d := json.NewDecoder(strings.NewReader(s.value))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, err // never shown: decoder errors quote the value
	}
	return v, nil
}

func notJSON(field string) error {
	return fmt.Errorf("%w: #%s: the secret is not a JSON object", ErrNotFound, field)
}

// fieldOf extracts field from v, the secret's decoded value.
func (s Secret) fieldOf(cur any, field string) (Secret, error) {
	walked := ""
	for seg := range strings.SplitSeq(field, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			where := "the secret"
			if walked != "" {
				where = walked
			}
			return Secret{}, fmt.Errorf("%w: #%s: %s is not a JSON object", ErrNotFound, field, where)
		}
		v, ok := obj[seg]
		if !ok {
			return Secret{}, fmt.Errorf("%w: #%s: no key %q (keys: %s)", ErrNotFound, field, seg, keyList(obj))
		}
		cur = v
		walked = strings.TrimPrefix(walked+"."+seg, ".")
	}
	out := s
	out.value = jsonText(cur)
	out.Structured = false
	return out, nil
}

// Whole returns the value a reference without #field means: the value itself,
// or for a structured store the single key's value.
func (s Secret) Whole() (Secret, error) {
	if !s.Structured {
		return s, nil
	}
	var obj map[string]any
	d := json.NewDecoder(strings.NewReader(s.value))
	d.UseNumber()
	if err := d.Decode(&obj); err != nil {
		return s, nil
	}
	if len(obj) != 1 {
		return Secret{}, fmt.Errorf("%w: the secret has %d keys (%s): name one with #field", ErrNotFound, len(obj), keyList(obj))
	}
	for _, v := range obj {
		out := s
		out.value = jsonText(v)
		out.Structured = false
		return out, nil
	}
	panic("unreachable")
}

// jsonText is a JSON value as an environment variable holds it: strings
// unquoted, anything else in its JSON form.
func jsonText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	_ = e.Encode(v) // values decoded from JSON always encode
	return strings.TrimSuffix(b.String(), "\n")
}

func keyList(obj map[string]any) string {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) > 10 {
		keys = append(keys[:10], "…")
	}
	return strings.Join(keys, ", ")
}

// Masked shows a value's size and, for long values, its first characters:
// enough to tell which key it is, never enough to use it.
func (s Secret) Masked() string {
	r := []rune(s.value)
	show := 0
	switch {
	case len(r) >= 20:
		show = 4
	case len(r) >= 10:
		show = 2
	}
	return fmt.Sprintf("%s…(%d chars)", string(r[:show]), len(r))
}
