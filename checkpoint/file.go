package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// writeFileAtomic makes dir/name hold data, or leaves it as it was: it writes data to a
// temporary file in dir (named by tmpPattern, as os.CreateTemp takes it), fsyncs it,
// renames it to name and fsyncs dir so that the rename itself is durable.
func writeFileAtomic(dir, name, tmpPattern string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, tmpPattern)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir fsyncs the directory dir, which makes the creation, renaming and removal of
// its entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

// removeTemps removes the files of dir whose names match tmpPattern (with its "*"
// standing for anything, as os.CreateTemp fills it in): temporary files left behind by a
// crash.
func removeTemps(dir, tmpPattern string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	prefix, suffix, _ := strings.Cut(tmpPattern, "*")
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if len(name) < len(prefix)+len(suffix) || !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
