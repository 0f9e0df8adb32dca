package rdd_test

import (
	"testing"

	"github.com/spatedev/spate/internal/leakcheck"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// job must stop all its tasks before its action returns.
func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }
