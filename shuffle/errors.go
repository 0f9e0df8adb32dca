package shuffle

// SpillError is a failure to create, write or read a spill file or the
// directory that holds them. Path names the file or directory.
type SpillError struct {
	Path string
	Op   string // "create", "write", "read", …
	Err  error
}

// Error names the path, the operation and the cause.
func (e *SpillError) Error() string {
	return "shuffle: spill to " + e.Path + ": " + e.Op + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *SpillError) Unwrap() error { return e.Err }
