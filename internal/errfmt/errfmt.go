// Package errfmt formats the values that errors of every package print, so
// that they read the same: a time in an error of dstream, rdd or source/kafka
// is printed by Time.
package errfmt

import "time"

// Time formats t as errors print a time (a batch's, a checkpoint's):
// RFC 3339 with the fraction of a second, trailing zeros trimmed
// (time.RFC3339Nano), e.g. 2026-01-01T00:00:01Z or 2026-01-01T00:00:01.5Z.
// dstream's BatchError and batch profiler label print times the same way.
func Time(t time.Time) string { return t.Format(time.RFC3339Nano) }
