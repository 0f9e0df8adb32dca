package checkpoint_test

import (
	"errors"
	"testing"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/internal/argerr"
)

// An invalid option is an error of Open and OpenWAL naming it with its value and
// wrapping the module's ErrInvalid; Keep(-1) is not KeepAll in disguise; a nil option
// is no option, not a panic.
func TestInvalidOptions(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{openErr(t, checkpoint.Keep(0)), "checkpoint.Open: invalid argument: Keep(0), want at least 1 (KeepAll to keep every file)"},
		{openErr(t, checkpoint.Keep(-1)), "checkpoint.Open: invalid argument: Keep(-1), want at least 1 (KeepAll to keep every file)"},
		{openWALErr(t, checkpoint.SegmentSize(10)), "checkpoint.OpenWAL: invalid argument: SegmentSize(10), want at least 64 bytes"},
	} {
		if tt.err == nil || tt.err.Error() != tt.want || !errors.Is(tt.err, argerr.ErrInvalid) {
			t.Errorf("error %v, want %q wrapping ErrInvalid", tt.err, tt.want)
		}
	}
	if err := openErr(t, nil, checkpoint.KeepAll(), nil); err != nil {
		t.Errorf("Open with nil options: %v", err)
	}
	if err := openWALErr(t, nil); err != nil {
		t.Errorf("OpenWAL with a nil option: %v", err)
	}
}

func openErr(t *testing.T, opts ...checkpoint.Opt) error {
	_, err := checkpoint.Open(t.TempDir(), opts...)
	return err
}

func openWALErr(t *testing.T, opts ...checkpoint.WALOpt) error {
	w, err := checkpoint.OpenWAL(t.TempDir(), opts...)
	if err == nil {
		err = w.Close()
	}
	return err
}
