package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestPointer(t *testing.T) {
	for _, tc := range []struct {
		tokens []any
		want   string
	}{
		{[]any{"spec", "containers", 2, "env"}, "/spec/containers/2/env"},
		{[]any{"metadata", "annotations", "mcp-secrets.dev/inject"}, "/metadata/annotations/mcp-secrets.dev~1inject"},
		{[]any{"a~b"}, "/a~0b"},
		{[]any{"~1"}, "/~01"}, // "~" first: not "/~1" read back as "/"
		{[]any{"/~"}, "/~1~0"},
		{[]any{""}, "/"},
	} {
		if got := pointer(tc.tokens...); got != tc.want {
			t.Errorf("pointer(%q) = %q, want %q", tc.tokens, got, tc.want)
		}
		// The control: the test's own reader finds the tokens again.
		if got := unescapeTokens(tc.want); fmt.Sprint(got) != fmt.Sprint(stringTokens(tc.tokens)) {
			t.Errorf("%q reads back as %q", tc.want, got)
		}
	}
}

func stringTokens(tokens []any) []string {
	s := make([]string, len(tokens))
	for i, t := range tokens {
		s[i] = fmt.Sprint(t)
	}
	return s
}

func unescapeTokens(p string) []string {
	parts := strings.Split(p, "/")[1:]
	for i, s := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return parts
}

// applyPatch applies a JSON Patch of add and replace operations to doc, as
// RFC 6902 says and independently of the code under test, so the tests
// can check what a patch makes of a pod. The real API server is the last
// judge (the end-to-end tests).
func applyPatch(doc []byte, ops []op) ([]byte, error) {
	var root any
	if err := json.Unmarshal(doc, &root); err != nil {
		return nil, err
	}
	for _, o := range ops {
		// The value as the API server receives it: JSON.
		b, err := json.Marshal(o.Value)
		if err != nil {
			return nil, err
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, err
		}
		if root, err = applyOp(root, unescapeTokens(o.Path), o.Op, v); err != nil {
			return nil, fmt.Errorf("%s %s: %w", o.Op, o.Path, err)
		}
	}
	return json.Marshal(root)
}

func applyOp(node any, tokens []string, kind string, v any) (any, error) {
	if len(tokens) == 0 {
		return v, nil
	}
	tok, last := tokens[0], len(tokens) == 1
	switch n := node.(type) {
	case map[string]any:
		child, ok := n[tok]
		if last {
			if kind == "replace" && !ok {
				return nil, fmt.Errorf("replace: no member %q", tok)
			}
			n[tok] = v
			return n, nil
		}
		if !ok {
			return nil, fmt.Errorf("no member %q", tok)
		}
		c, err := applyOp(child, tokens[1:], kind, v)
		n[tok] = c
		return n, err
	case []any:
		if last && kind == "add" && tok == "-" {
			return append(n, v), nil
		}
		i, err := strconv.Atoi(tok)
		if err != nil || i < 0 || i > len(n) || (i == len(n) && !(last && kind == "add")) || (tok != "0" && tok[0] == '0') {
			return nil, fmt.Errorf("index %q of %d", tok, len(n))
		}
		if !last {
			c, err := applyOp(n[i], tokens[1:], kind, v)
			n[i] = c
			return n, err
		}
		if kind == "replace" {
			n[i] = v
			return n, nil
		}
		return append(n[:i], append([]any{v}, n[i:]...)...), nil
	}
	return nil, fmt.Errorf("%q below a %T", tok, node)
}

// strictPod decodes JSON into the API's own Pod, refusing unknown fields.
func strictPod(t testing.TB, b []byte) *corev1.Pod {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var p corev1.Pod
	if err := d.Decode(&p); err != nil {
		t.Fatalf("not a Pod: %v\n%s", err, b)
	}
	return &p
}

func TestApplyPatch(t *testing.T) {
	doc := `{"a":[1,2],"b":{"c":3}}`
	for _, tc := range []struct {
		ops  []op
		want string // "" for an error
	}{
		{[]op{{"add", "/a/-", 9}}, `{"a":[1,2,9],"b":{"c":3}}`},
		{[]op{{"add", "/a/0", 9}}, `{"a":[9,1,2],"b":{"c":3}}`},
		{[]op{{"add", "/a/2", 9}}, `{"a":[1,2,9],"b":{"c":3}}`},
		{[]op{{"add", "/d", []int{1}}}, `{"a":[1,2],"b":{"c":3},"d":[1]}`},
		{[]op{{"replace", "/b/c", 4}}, `{"a":[1,2],"b":{"c":4}}`},
		{[]op{{"replace", "/b/x", 4}}, ""},
		{[]op{{"add", "/x/y", 4}}, ""},
		{[]op{{"add", "/a/3", 4}}, ""},
		{[]op{{"add", "/a/01", 4}}, ""},
	} {
		got, err := applyPatch([]byte(doc), tc.ops)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%v: applied (%s), want an error", tc.ops, got)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%v: %s, %v; want %s", tc.ops, got, err, tc.want)
		}
	}
}
