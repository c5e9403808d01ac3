package main

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"ok", []string{"--name=x", "--out=/o", "--binary=linux/amd64=/b"}, ""},
		{"binary without path", []string{"--name=x", "--out=/o", "--binary=linux/amd64"}, "want OS/ARCH=PATH"},
		{"bad created", []string{"--name=x", "--out=/o", "--binary=linux/amd64=/b", "--created=yesterday"}, "--created"},
		{"extra args", []string{"--name=x", "stray"}, "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(tc.args)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if o.Path != "/usr/local/bin/x" || o.Binaries["linux/amd64"] != "/b" || o.User != "65532:65532" {
					t.Errorf("options %+v", o)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	base := func() *Options {
		return &Options{Name: "x", Out: "/o", Path: "/x", WorkingDir: "/", User: "65532:65532", Binaries: map[string]string{"linux/amd64": "/b"}}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Options)
		want   string
	}{
		{"no name", func(o *Options) { o.Name = "" }, "--name"},
		{"relative path", func(o *Options) { o.Path = "x" }, "not absolute"},
		{"user not numeric", func(o *Options) { o.User = "nonroot" }, "UID:GID"},
		{"platform without arch", func(o *Options) { o.Binaries = map[string]string{"linux": "/b"} }, "want OS/ARCH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base()
			tc.mutate(o)
			if err := o.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
	if err := base().validate(); err != nil {
		t.Errorf("valid options refused: %v", err)
	}
}

// TestRunAndPush writes a layout and pushes it to a registry on 127.0.0.1.
func TestRunAndPush(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "fake")
	if err := os.WriteFile(bin, []byte("\x7fELF fake"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	o := &Options{
		Name: "thing", Path: "/usr/local/bin/thing", WorkingDir: "/", User: "65532:65532",
		Binaries: map[string]string{"linux/amd64": bin, "linux/arm64": bin},
		Version:  "v1.2.3", Out: filepath.Join(dir, "layout"), Push: host + "/kennel/thing:v1.2.3",
	}
	if err := Run(context.Background(), o, io.Discard); err != nil {
		t.Fatal(err)
	}
	lp, err := layout.FromPath(o.Out)
	if err != nil {
		t.Fatal(err)
	}
	top, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "v1.2.3" {
		t.Fatalf("index.json: %+v", im.Manifests)
	}
	ref, err := name.ParseReference(o.Push, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := remote.Index(ref)
	if err != nil {
		t.Fatalf("pushed index not in the registry: %v", err)
	}
	pm, err := pushed.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if pm.Manifests[0].Digest.String() == "" || len(pm.Manifests) != 2 {
		t.Fatalf("pushed index: %+v", pm.Manifests)
	}
	d, _ := pushed.Digest()
	if d != im.Manifests[0].Digest {
		t.Errorf("pushed digest %s, layout's %s", d, im.Manifests[0].Digest)
	}
	for _, m := range pm.Manifests {
		img, err := pushed.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Architecture != m.Platform.Architecture || cf.Config.User != "65532:65532" {
			t.Errorf("pushed image %s: arch %s user %s", m.Digest, cf.Architecture, cf.Config.User)
		}
	}
}

// A --rootfs tree lands in the layer with its modes and symlinks, and its
// /etc/passwd replaces the generated one.
func TestLayerWithRootfs(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"etc", "lib/x86_64-linux-gnu", "var/cache"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{"etc/passwd": "root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\n", "lib/x86_64-linux-gnu/libz.so.1": "lib"}
	for f, data := range files {
		if err := os.WriteFile(filepath.Join(root, f), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("busybox", filepath.Join(root, "sh")); err != nil {
		t.Fatal(err)
	}
	o := &Options{Name: "app", Path: "/usr/sbin/app", WorkingDir: "/", User: "0:0", Rootfs: root}
	data, err := o.layerTar([]byte("\x7fELF app"))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(data))
	got := map[string]*tar.Header{}
	contents := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = h
		b, _ := io.ReadAll(tr)
		contents[h.Name] = string(b)
	}
	tests := []struct {
		name string
		typ  byte
		link string
		data string
	}{
		{"etc/passwd", tar.TypeReg, "", files["etc/passwd"]},
		{"lib/x86_64-linux-gnu/libz.so.1", tar.TypeReg, "", "lib"},
		{"sh", tar.TypeSymlink, "busybox", ""},
		{"var/cache/", tar.TypeDir, "", ""},
		{"usr/sbin/app", tar.TypeReg, "", "\x7fELF app"},
	}
	for _, tt := range tests {
		h, ok := got[tt.name]
		if !ok {
			t.Errorf("%s not in the layer (have %v)", tt.name, contents)
			continue
		}
		if h.Typeflag != tt.typ || h.Linkname != tt.link || contents[tt.name] != tt.data {
			t.Errorf("%s: type %c link %q data %q; want %c %q %q", tt.name, h.Typeflag, h.Linkname, contents[tt.name], tt.typ, tt.link, tt.data)
		}
	}
	n := 0
	for name := range got {
		if name == "etc/passwd" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("etc/passwd appears %d times", n)
	}
}
