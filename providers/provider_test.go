package providers

import "testing"

func TestStatusKind(t *testing.T) {
	tests := []struct {
		code int
		want error
	}{
		{0, ErrConfig}, // no answer with a status: the caller's own case
		{400, ErrConfig},
		{401, ErrDenied},
		{403, ErrDenied},
		{404, ErrNotFound},
		{405, ErrConfig},
		{408, ErrUnavailable},
		{409, ErrConfig}, // Azure: a secret deleted but recoverable, which needs a person
		{412, ErrUnavailable},
		{422, ErrConfig},
		{429, ErrUnavailable},
		{500, ErrUnavailable},
		{502, ErrUnavailable},
		{503, ErrUnavailable},
		{504, ErrUnavailable},
	}
	for _, tt := range tests {
		if got := StatusKind(tt.code); got != tt.want {
			t.Errorf("StatusKind(%d) = %v, want %v", tt.code, got, tt.want)
		}
	}
}
