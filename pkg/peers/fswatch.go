package peers

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
)

// WatchFiles reports, on the returned channel, the path of a watched file
// whose content changed. It watches each file's parent directory, so it sees
// files replaced by rename and the "..data" symlink swap with which
// Kubernetes updates ConfigMap and Secret volumes. A path that is a directory
// is watched as a whole (any file in it). Events that leave every content
// unchanged are dropped. The channel is closed when ctx is done. logf
// receives watcher errors.
func WatchFiles(ctx context.Context, paths []string, logf func(format string, args ...any)) (<-chan string, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	type target struct {
		path  string
		isDir bool
		sum   [32]byte
	}
	byDir := map[string][]*target{}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		st, err := os.Stat(abs)
		if err != nil {
			w.Close()
			return nil, err
		}
		t := &target{path: abs, isDir: st.IsDir()}
		dir := filepath.Dir(abs)
		if t.isDir {
			dir = abs
		}
		t.sum = contentSum(abs, t.isDir)
		if _, ok := byDir[dir]; !ok {
			if err := w.Add(dir); err != nil {
				w.Close()
				return nil, fmt.Errorf("%s: %w", p, err)
			}
		}
		byDir[dir] = append(byDir[dir], t)
	}
	out := make(chan string, 1)
	go func() {
		defer close(out)
		defer w.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				logf("watch error: %v", err)
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if ev.Op == fsnotify.Chmod {
					continue
				}
				// Any event in a watched directory re-hashes its targets:
				// a ConfigMap update renames "..data", not the file itself.
				for _, t := range byDir[filepath.Dir(ev.Name)] {
					sum := contentSum(t.path, t.isDir)
					if sum == t.sum {
						continue
					}
					t.sum = sum
					select {
					case out <- t.path:
					case <-ctx.Done():
						return
					}
				}
			}
		}
	}()
	return out, nil
}

// contentSum hashes a file's content, or for a directory the names and
// contents of the regular files (following symlinks) directly in it. A
// missing file hashes like an empty one with a marker.
func contentSum(path string, isDir bool) [32]byte {
	h := sha256.New()
	if !isDir {
		b, err := os.ReadFile(path)
		if err != nil {
			h.Write([]byte("\x00missing"))
		}
		h.Write(b)
		var s [32]byte
		copy(s[:], h.Sum(nil))
		return s
	}
	entries, _ := os.ReadDir(path)
	for _, e := range entries {
		p := filepath.Join(path, e.Name())
		st, err := os.Stat(p)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		b, _ := os.ReadFile(p)
		fmt.Fprintf(h, "%s\x00%d\x00", e.Name(), len(b))
		h.Write(b)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}
