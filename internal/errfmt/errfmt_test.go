package errfmt

import (
	"testing"
	"time"
)

func TestTime(t *testing.T) {
	for _, c := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC), "2026-01-01T00:00:01Z"},
		{time.Date(2026, 1, 1, 0, 0, 1, 500_000_000, time.UTC), "2026-01-01T00:00:01.5Z"},
		{time.Date(2026, 1, 1, 0, 0, 1, 0, time.FixedZone("", 3600)), "2026-01-01T00:00:01+01:00"},
	} {
		if got := Time(c.t); got != c.want {
			t.Errorf("Time(%v) = %q, want %q", c.t, got, c.want)
		}
	}
}
