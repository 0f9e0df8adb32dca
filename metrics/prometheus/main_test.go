package prometheus_test

import (
	"testing"

	"github.com/spatedev/spate/internal/leakcheck"
)

// TestMain fails the package if a test leaves goroutines behind.
func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }
