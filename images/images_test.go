package images_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kennel-dev/kennel/images/imagetest"
	"github.com/kennel-dev/kennel/images/ocilayout"
)

// buildImages runs hack/images.sh for the named images into a temporary
// directory and returns it.
func buildImages(t *testing.T, version string, names ...string) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(root, "hack", "images.sh"), names...)
	cmd.Env = append(os.Environ(),
		"KENNEL_VERSION="+version,
		"KENNEL_IMAGES_OUT="+filepath.Join(out, "images"),
		"KENNEL_IMAGES_BIN="+filepath.Join(out, "bin"),
		"KENNEL_REGISTRY=",
	)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/images.sh %s: %v\n%s", strings.Join(names, " "), err, b)
	}
	return filepath.Join(out, "images")
}

// TestPeerFinderImage builds the peer-finder image with hack/images.sh,
// reads the layout back and runs the binary taken out of it: --version, and
// --install, which pods rely on to copy it into an emptyDir.
func TestPeerFinderImage(t *testing.T) {
	const version = "v0.0.0-imagetest"
	dir := buildImages(t, version, "peer-finder")
	imgs := imagetest.Check(t, filepath.Join(dir, "peer-finder"), imagetest.Expect{
		Name:      "peer-finder",
		Version:   version,
		Path:      "/usr/local/bin/peer-finder",
		Platforms: []string{"linux/amd64", "linux/arm64"},
		NoShell:   true,
	})
	bin := imagetest.HostBinary(t, imgs, "/usr/local/bin/peer-finder")
	if bin == "" {
		t.Skip("no image for this machine's platform; binaries not run")
	}
	if out := imagetest.Output(t, bin, "--version"); !strings.Contains(out, version) {
		t.Errorf("--version printed %q, want %s", out, version)
	}
	// --install copies the binary into a directory, as the examples' init
	// containers do with an emptyDir; the copy must run on its own.
	target := filepath.Join(t.TempDir(), "kennel", "bin")
	if err := os.MkdirAll(target, 0o777); err != nil {
		t.Fatal(err)
	}
	imagetest.Output(t, bin, "--install", target)
	installed := filepath.Join(target, "peer-finder")
	fi, err := os.Stat(installed)
	if err != nil {
		t.Fatalf("--install wrote no %s: %v", installed, err)
	}
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("installed binary mode %v, want 0755", fi.Mode().Perm())
	}
	orig, _ := os.ReadFile(bin)
	copied, _ := os.ReadFile(installed)
	if !bytes.Equal(orig, copied) {
		t.Errorf("installed binary differs from the image's")
	}
	if out := imagetest.Output(t, installed, "--version"); !strings.Contains(out, version) {
		t.Errorf("installed --version printed %q, want %s", out, version)
	}
}

// TestImagesReproducible builds the same image twice: same commit, same
// version, same bytes.
func TestImagesReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the image twice; not in -short")
	}
	const version = "v0.0.0-repro"
	a := buildImages(t, version, "peer-finder")
	b := buildImages(t, version, "peer-finder")
	ia, err := os.ReadFile(filepath.Join(a, "peer-finder", "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	ib, err := os.ReadFile(filepath.Join(b, "peer-finder", "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ia, ib) {
		t.Errorf("two builds differ:\n%s\n%s", ia, ib)
	}
}

// recorder collects Errorf calls so a test can check that Check reports
// what is wrong with an image.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Helper() {}

// TestCheckFindsFaults checks that the checks fail on images that are not
// what they should be, and that a tampered blob is refused.
func TestCheckFindsFaults(t *testing.T) {
	const version = "v0.0.0-faults"
	dir := filepath.Join(buildImages(t, version, "peer-finder"), "peer-finder")

	r := &recorder{TB: t}
	imagetest.Check(r, dir, imagetest.Expect{
		Name:      "peer-finder",
		Version:   version,
		Path:      "/usr/local/bin/controller",
		Platforms: []string{"linux/amd64", "linux/arm64", "linux/s390x"},
	})
	for _, want := range []string{"platforms [linux/amd64 linux/arm64], want", "entrypoint", "no /usr/local/bin/controller in the image"} {
		found := false
		for _, e := range r.errors {
			found = found || strings.Contains(e, want)
		}
		if !found {
			t.Errorf("Check did not report %q; it reported %q", want, r.errors)
		}
	}

	// Corrupt one byte of the largest blob (a layer): reading must fail.
	blobs, err := filepath.Glob(filepath.Join(dir, "blobs", "sha256", "*"))
	if err != nil || len(blobs) == 0 {
		t.Fatalf("no blobs: %v", err)
	}
	largest, size := "", int64(-1)
	for _, b := range blobs {
		if fi, err := os.Stat(b); err == nil && fi.Size() > size {
			largest, size = b, fi.Size()
		}
	}
	data, err := os.ReadFile(largest)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(largest, data, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := ocilayout.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Images(version); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Errorf("a tampered layer was read without a digest error: %v", err)
	}
}
