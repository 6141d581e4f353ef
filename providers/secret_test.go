package providers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const value = "hunter2-very-secret"

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret(value, "v1")
	type wrapper struct {
		S Secret
		P *Secret
	}
	w := wrapper{S: s, P: &s}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
		out = append(out, fmt.Sprintf(verb, s), fmt.Sprintf(verb, w), fmt.Sprintf(verb, []Secret{s}))
	}
	out = append(out, fmt.Sprint(s), fmt.Sprintln(s), s.String(), s.GoString())
	j, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, string(j))
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("resolved", "secret", s, "ptr", &s, "group", slog.GroupValue(slog.Any("s", s)), "wrapper", w)
	}
	out = append(out, buf.String())
	for _, o := range out {
		if strings.Contains(o, "hunter2") {
			t.Errorf("value printed: %s", o)
		}
	}
	if s.Reveal() != value {
		t.Errorf("Reveal = %q", s.Reveal())
	}
}

func TestSecretField(t *testing.T) {
	s := NewSecret(`{"user":"app","password":"`+value+`","port":5432,"tls":true,"nested":{"a":{"b":"deep"}},"list":[1,"x"]}`, "v7")
	tests := []struct {
		field, want string
	}{
		{"user", "app"},
		{"password", value},
		{"port", "5432"},
		{"tls", "true"},
		{"nested.a.b", "deep"},
		{"nested.a", `{"b":"deep"}`},
		{"list", `[1,"x"]`},
	}
	for _, tt := range tests {
		got, err := s.Field(tt.field)
		if err != nil {
			t.Errorf("Field(%q): %v", tt.field, err)
			continue
		}
		if got.Reveal() != tt.want || got.Version != "v7" {
			t.Errorf("Field(%q) = %q (version %q), want %q", tt.field, got.Reveal(), got.Version, tt.want)
		}
	}
	for _, field := range []string{"missing", "user.x", "nested.a.c"} {
		_, err := s.Field(field)
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Field(%q) error = %v, want ErrNotFound", field, err)
		}
		if err != nil && strings.Contains(err.Error(), value) {
			t.Errorf("Field(%q) error shows the value: %v", field, err)
		}
	}
	_, err := NewSecret("not json "+value, "").Field("x")
	if err == nil || strings.Contains(err.Error(), value) {
		t.Errorf("Field on text: %v", err)
	}
}

func TestSecretWhole(t *testing.T) {
	one := NewSecret(`{"token":"`+value+`"}`, "")
	one.Structured = true
	if got, err := one.Whole(); err != nil || got.Reveal() != value {
		t.Errorf("Whole of one key = %q, %v", got.Reveal(), err)
	}
	two := NewSecret(`{"a":"1","b":"`+value+`"}`, "")
	two.Structured = true
	_, err := two.Whole()
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "a, b") || strings.Contains(err.Error(), value) {
		t.Errorf("Whole of two keys: %v", err)
	}
	text := NewSecret(`{"a":"1"}`, "")
	if got, _ := text.Whole(); got.Reveal() != `{"a":"1"}` {
		t.Errorf("Whole of a text secret = %q, want it unchanged", got.Reveal())
	}
}

func TestSecretMasked(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "…(0 chars)"},
		{"short", "…(5 chars)"},
		{"0123456789", "01…(10 chars)"},
		{"sk-proj-0123456789abcdef", "sk-p…(24 chars)"},
	}
	for _, tt := range tests {
		if got := NewSecret(tt.in, "").Masked(); got != tt.want {
			t.Errorf("Masked(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
