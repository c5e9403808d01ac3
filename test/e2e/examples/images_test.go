package examples

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kennel-dev/kennel/images/imagetest"
)

// TestImages runs `make images` (hack/images.sh, both images, both
// platforms) and checks the layouts: what every image must be, and no shell
// in either. It needs no control plane, only the Go toolchain.
func TestImages(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles both binaries for two platforms; not under -short")
	}
	t.Parallel()
	const version = "v0.0.0-e2e"
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(repoRoot(t), "hack", "images.sh"))
	cmd.Env = append(os.Environ(),
		"KENNEL_VERSION="+version,
		"KENNEL_IMAGES_OUT="+filepath.Join(out, "images"),
		"KENNEL_IMAGES_BIN="+filepath.Join(out, "bin"),
		"KENNEL_REGISTRY=",
	)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/images.sh: %v\n%s", err, b)
	}
	for _, img := range []struct{ name, path string }{
		{"controller", "/usr/local/bin/kennel-controller"},
		{"peer-finder", "/usr/local/bin/peer-finder"},
	} {
		imgs := imagetest.Check(t, filepath.Join(out, "images", img.name), imagetest.Expect{
			Name:      img.name,
			Version:   version,
			Path:      img.path,
			Platforms: []string{"linux/amd64", "linux/arm64"},
			NoShell:   true,
		})
		if bin := imagetest.HostBinary(t, imgs, img.path); bin != "" {
			if v := imagetest.Output(t, bin, "--version"); !strings.Contains(v, version) {
				t.Errorf("%s --version: %q, want %s", img.name, v, version)
			}
		}
	}
}
