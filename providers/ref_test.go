package providers

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	ref := func(r Ref) Part { return Part{Ref: &r} }
	lit := func(s string) Part { return Part{Literal: s} }
	tests := []struct {
		in   string
		want Template
	}{
		{"plain", Template{lit("plain")}},
		{"", nil},
		{"$<API_KEY>", Template{ref(Ref{Path: "API_KEY"})}},
		{"$<aws:prod/db#password>", Template{ref(Ref{Provider: "aws", Path: "prod/db", Field: "password"})}},
		{"$<aws:arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf#password>",
			Template{ref(Ref{Provider: "aws", Path: "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf", Field: "password"})}},
		{"$<azure:https://myvault.vault.azure.net/secrets/db/0123abc>",
			Template{ref(Ref{Provider: "azure", Path: "https://myvault.vault.azure.net/secrets/db/0123abc"})}},
		{"$<aws:prod/db?version=v1&stage=AWSPREVIOUS#a.b.c>",
			Template{ref(Ref{Provider: "aws", Path: "prod/db", Version: "v1", Stage: "AWSPREVIOUS", Field: "a.b.c"})}},
		{"$<vault:secret/app?version=3>", Template{ref(Ref{Provider: "vault", Path: "secret/app", Version: "3"})}},
		{"postgresql://$<aws:db#user>:$<aws:db#password>@db:5432/app", Template{
			lit("postgresql://"), ref(Ref{Provider: "aws", Path: "db", Field: "user"}), lit(":"),
			ref(Ref{Provider: "aws", Path: "db", Field: "password"}), lit("@db:5432/app")}},
		{"cost $$<5", Template{lit("cost $<5")}},
		{"$$<not a ref>", Template{lit("$<not a ref>")}},
		{"$$$<x>", Template{lit("$$<x>")}},
		{"$$<$<x>", Template{lit("$<"), ref(Ref{Path: "x"})}},
		{"a$b$", Template{lit("a$b$")}},
		{"é$<x>", Template{lit("é"), ref(Ref{Path: "x"})}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in     string
		column int
		reason string
	}{
		{"$<aws:db", 1, `missing closing ">"`},
		{"x=$<", 3, `missing closing ">"`},
		{"$<>", 3, "empty reference"},
		{"$<aws:>", 7, "empty path"},
		{"$<:x>", 5, "provider"},
		{"$<AWS:x>", 8, `provider "AWS" is not a name`},
		{"$<aws:db#>", 10, "empty #field"},
		{"$<aws:db#a..b>", 14, "empty segment"},
		{"$<aws:db?>", 10, "empty ?query"},
		{"$<aws:db?color=red>", 19, `unknown query key "color"`},
		{"$<aws:db?version>", 17, "not key=value"},
		{"$<aws:db?version=1&version=2>", 29, "given twice"},
		{"$<aws:my db>", 9, "whitespace"},
		{"$<aws:$<x>>", 7, "nested"},
		{"ééé$<x", 4, `missing closing ">"`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) error = %v, want a SyntaxError", tt.in, err)
			continue
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q): error is not ErrMalformed", tt.in)
		}
		if se.Column != tt.column || !strings.Contains(se.Reason, tt.reason) {
			t.Errorf("Parse(%q) = column %d %q, want column %d %q", tt.in, se.Column, se.Reason, tt.column, tt.reason)
		}
	}
}

// A malformed reference must not drag the rest of the value, which may be a
// literal secret, into the error.
func TestParseErrorShowsLittle(t *testing.T) {
	secret := strings.Repeat("s3cr3t", 20)
	_, err := Parse("$<aws:db#" + secret)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("error %q repeats the value", err)
	}
	_, err = Parse("prefix-" + secret + "-$<aws")
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("error %q repeats the literal text", err)
	}
}

func TestKeyPinned(t *testing.T) {
	tests := []struct {
		ref  Ref
		want bool
	}{
		{Ref{Path: "a"}, false},
		{Ref{Path: "a", Stage: "AWSCURRENT"}, false},
		{Ref{Path: "a", Stage: "AWSPREVIOUS"}, true},
		{Ref{Path: "a", Version: "3"}, true},
	}
	for _, tt := range tests {
		if got := tt.ref.Key().Pinned(); got != tt.want {
			t.Errorf("%v Pinned = %v, want %v", tt.ref, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"plain", "$<API_KEY>", "$<aws:prod/db?version=v1&stage=AWSPREVIOUS#a.b>", "$$<x", "$$$<x>",
		"pg://$<aws:db#user>:$<aws:db#pw>@h", "$<azure:https://v.vault.azure.net/secrets/n/1>", "$<x", "a$",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tmpl, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Column < 1 {
				t.Fatalf("Parse(%q): error %v is not a SyntaxError with a column", s, err)
			}
			return
		}
		again, err := Parse(tmpl.String())
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", s, tmpl.String(), err)
		}
		if !reflect.DeepEqual(normalize(again), normalize(tmpl)) {
			t.Fatalf("round trip of %q: %#v != %#v", s, again, tmpl)
		}
	})
}

// normalize merges adjacent literals, which String may join.
func normalize(t Template) Template {
	var out Template
	for _, p := range t {
		if n := len(out); p.Ref == nil && n > 0 && out[n-1].Ref == nil {
			out[n-1].Literal += p.Literal
			continue
		}
		out = append(out, p)
	}
	return out
}
