//go:build !race

package crashtest

// race says whether this binary was built with the race detector: the children are
// then built with it too.
const race = false
