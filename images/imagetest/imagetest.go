// Package imagetest checks the OCI layouts hack/images.sh writes: what every
// kennel image must be (static binaries for each platform, non-root user,
// entrypoint, labels, no shell where none is wanted). Tests of images/ and
// of test/e2e share it.
package imagetest

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/kennel-dev/kennel/images/ocilayout"
)

// Source is the org.opencontainers.image.source of every image.
const Source = "https://github.com/kennel-dev/kennel"

// Expect describes one image.
type Expect struct {
	Name      string   // image name (layout directory name)
	Version   string   // tag and version label
	Path      string   // binary and entrypoint
	Platforms []string // e.g. linux/amd64, linux/arm64
	NoShell   bool     // fail if the image holds a shell
}

var elfMachine = map[string]elf.Machine{
	"amd64":   elf.EM_X86_64,
	"arm64":   elf.EM_AARCH64,
	"arm":     elf.EM_ARM,
	"ppc64le": elf.EM_PPC64,
	"s390x":   elf.EM_S390,
	"riscv64": elf.EM_RISCV,
}

// shells are file names that would give an image a shell.
var shells = map[string]bool{"sh": true, "bash": true, "ash": true, "dash": true, "zsh": true, "ksh": true, "busybox": true}

// Check reads the layout in dir and checks it against e. It returns the
// images by platform, for further checks.
func Check(t testing.TB, dir string, e Expect) map[string]*ocilayout.Image {
	t.Helper()
	l, err := ocilayout.Open(dir)
	if err != nil {
		t.Fatalf("%s: %v", e.Name, err)
	}
	idx, imgs, err := l.Images(e.Version)
	if err != nil {
		t.Fatalf("%s: %v", e.Name, err)
	}
	if got := idx.Annotations["org.opencontainers.image.version"]; got != e.Version {
		t.Errorf("%s: index version annotation %q, want %q", e.Name, got, e.Version)
	}
	byPlatform := map[string]*ocilayout.Image{}
	for _, img := range imgs {
		if img.Descriptor.Platform == nil {
			t.Errorf("%s: index entry %s has no platform", e.Name, img.Descriptor.Digest)
			continue
		}
		byPlatform[img.Descriptor.Platform.String()] = img
	}
	var got []string
	for p := range byPlatform {
		got = append(got, p)
	}
	sort.Strings(got)
	want := append([]string(nil), e.Platforms...)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s: platforms %v, want %v", e.Name, got, want)
	}
	for p, img := range byPlatform {
		checkImage(t, e, p, img)
	}
	return byPlatform
}

func checkImage(t testing.TB, e Expect, plat string, img *ocilayout.Image) {
	t.Helper()
	name := e.Name + " " + plat
	c := img.Config
	if c.OS+"/"+c.Architecture != plat {
		t.Errorf("%s: config says %s/%s", name, c.OS, c.Architecture)
	}
	if strings.Join(c.Config.Entrypoint, " ") != e.Path {
		t.Errorf("%s: entrypoint %q, want [%s]", name, c.Config.Entrypoint, e.Path)
	}
	if c.Config.User != "65532:65532" {
		t.Errorf("%s: user %q, want 65532:65532", name, c.Config.User)
	}
	if c.Config.WorkingDir != "/" {
		t.Errorf("%s: working dir %q, want /", name, c.Config.WorkingDir)
	}
	for k, v := range map[string]string{
		"org.opencontainers.image.version": e.Version,
		"org.opencontainers.image.source":  Source,
		"org.opencontainers.image.title":   e.Name,
	} {
		if got := c.Config.Labels[k]; got != v {
			t.Errorf("%s: label %s = %q, want %q", name, k, got, v)
		}
	}

	bin, ok := img.Files[e.Path]
	switch {
	case !ok:
		t.Errorf("%s: no %s in the image", name, e.Path)
	case bin.Type != tar.TypeReg || bin.Mode != 0o755 || bin.UID != 0:
		t.Errorf("%s: %s is type %c mode %v uid %d, want a regular file 0755 owned by root", name, e.Path, bin.Type, bin.Mode, bin.UID)
	default:
		checkELF(t, name, bin.Data, strings.SplitN(plat, "/", 2)[1], e.Version)
	}

	passwd := string(img.Files["/etc/passwd"].Data)
	if !strings.Contains(passwd, ":x:65532:65532:") {
		t.Errorf("%s: /etc/passwd names no user 65532:\n%s", name, passwd)
	}
	if tmp, ok := img.Files["/tmp"]; !ok || tmp.Type != tar.TypeDir || tmp.Mode != 0o777|fs.ModeSticky {
		t.Errorf("%s: /tmp missing or not 1777: %+v", name, tmp)
	}
	if e.NoShell {
		for p, f := range img.Files {
			if shells[path.Base(p)] && f.Type != tar.TypeDir {
				t.Errorf("%s: holds a shell, %s", name, p)
			}
		}
	}
}

// checkELF checks that data is a static Linux executable for arch that
// carries version.
func checkELF(t testing.TB, name string, data []byte, arch, version string) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Errorf("%s: binary is not ELF: %v", name, err)
		return
	}
	defer f.Close()
	if want, ok := elfMachine[arch]; !ok || f.Machine != want {
		t.Errorf("%s: ELF machine %v, want %v", name, f.Machine, want)
	}
	if f.Type != elf.ET_EXEC {
		t.Errorf("%s: ELF type %v, want a static executable (ET_EXEC)", name, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s: binary is dynamically linked (%v)", name, p.Type)
		}
	}
	if !bytes.Contains(data, []byte(version)) {
		t.Errorf("%s: binary does not contain its version %q", name, version)
	}
}

// HostBinary writes the binary of the image for the machine running the
// test to a file and returns its path, or "" if the layout has no image for
// this machine.
func HostBinary(t testing.TB, imgs map[string]*ocilayout.Image, binPath string) string {
	t.Helper()
	img, ok := imgs[runtime.GOOS+"/"+runtime.GOARCH]
	if !ok {
		return ""
	}
	p := filepath.Join(t.TempDir(), path.Base(binPath))
	if err := os.WriteFile(p, img.Files[binPath].Data, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// Output runs bin with args and returns its combined output.
func Output(t testing.TB, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out)
	}
	return string(out)
}
