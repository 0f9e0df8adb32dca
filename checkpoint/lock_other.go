//go:build !unix

package checkpoint

import "os"

// flock does nothing where flock(2) does not exist: the lock file is created but
// nothing is enforced.
func flock(*os.File) (held bool, err error) { return false, nil }
