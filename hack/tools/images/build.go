package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/spf13/pflag"
)

// Options describe one image and where to write it.
type Options struct {
	// Name is the image's short name (controller, peer-finder).
	Name string
	// Binaries maps "os/arch" to the path of the static binary for it.
	Binaries map[string]string
	// Path is where the binary goes in the image; it is the entrypoint.
	Path string
	// Args is the image's default command (arguments to the entrypoint).
	Args []string
	// WorkingDir of the image.
	WorkingDir string
	// User the entrypoint runs as, "uid:gid".
	User string
	// Version, Revision, Source, Description and Licenses go into the
	// org.opencontainers.image.* labels and annotations.
	Version, Revision, Source, Description, Licenses string
	// Created is the creation time of the image and of every file in it
	// (reproducible builds use the commit time).
	Created time.Time
	// Out is the directory of the OCI image layout to write (replaced).
	Out string
	// Push, if set, is a registry reference the image index is pushed to.
	Push string
	// Rootfs, if set, is a directory whose tree (files, directories,
	// symlinks, modes; owned by root) is added to every platform's layer,
	// for images of programs that need more than one static binary (shared
	// libraries, a shell, configuration). Its files replace the generated
	// /etc/passwd and /etc/group when it has them.
	Rootfs string
}

func parseFlags(args []string) (*Options, error) {
	o := &Options{}
	var binaries []string
	var created string
	fs := pflag.NewFlagSet("images", pflag.ContinueOnError)
	fs.StringVar(&o.Name, "name", "", "image name (required)")
	fs.StringArrayVar(&binaries, "binary", nil, "OS/ARCH=PATH of a static binary; one per platform (required, repeatable)")
	fs.StringVar(&o.Path, "path", "", "path of the binary in the image, the entrypoint (default /usr/local/bin/NAME)")
	fs.StringArrayVar(&o.Args, "arg", nil, "default argument to the entrypoint (repeatable)")
	fs.StringVar(&o.WorkingDir, "workdir", "/", "working directory")
	fs.StringVar(&o.User, "user", "65532:65532", "uid:gid the entrypoint runs as")
	fs.StringVar(&o.Version, "version", "dev", "version label")
	fs.StringVar(&o.Revision, "revision", "", "source revision label")
	fs.StringVar(&o.Source, "source", "https://github.com/kennel-dev/kennel", "source repository label")
	fs.StringVar(&o.Description, "description", "", "description label")
	fs.StringVar(&o.Licenses, "licenses", "", "licenses label (SPDX expression)")
	fs.StringVar(&created, "created", "0", "creation time: Unix seconds or RFC 3339")
	fs.StringVar(&o.Out, "out", "", "directory of the OCI layout to write (required)")
	fs.StringVar(&o.Push, "push", "", "also push the image index to this registry reference")
	fs.StringVar(&o.Rootfs, "rootfs", "", "directory whose tree is added to the image (files, directories, symlinks)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	o.Binaries = map[string]string{}
	for _, b := range binaries {
		plat, p, ok := strings.Cut(b, "=")
		if !ok || p == "" {
			return nil, fmt.Errorf("--binary %q: want OS/ARCH=PATH", b)
		}
		o.Binaries[plat] = p
	}
	t, err := parseTime(created)
	if err != nil {
		return nil, fmt.Errorf("--created: %w", err)
	}
	o.Created = t
	if o.Path == "" && o.Name != "" {
		o.Path = "/usr/local/bin/" + o.Name
	}
	return o, nil
}

func parseTime(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Parse(time.RFC3339, s)
}

func (o *Options) validate() error {
	switch {
	case o.Name == "":
		return errors.New("--name is required")
	case o.Out == "":
		return errors.New("--out is required")
	case len(o.Binaries) == 0:
		return errors.New("at least one --binary is required")
	case !path.IsAbs(o.Path):
		return fmt.Errorf("--path %q is not absolute", o.Path)
	case !path.IsAbs(o.WorkingDir):
		return fmt.Errorf("--workdir %q is not absolute", o.WorkingDir)
	}
	if _, _, err := parseUser(o.User); err != nil {
		return err
	}
	for plat := range o.Binaries {
		if _, err := v1.ParsePlatform(plat); err != nil || !strings.Contains(plat, "/") {
			return fmt.Errorf("--binary platform %q: want OS/ARCH", plat)
		}
	}
	return nil
}

func parseUser(u string) (uid, gid int, err error) {
	us, gs, ok := strings.Cut(u, ":")
	if !ok {
		return 0, 0, fmt.Errorf("--user %q: want UID:GID", u)
	}
	if uid, err = strconv.Atoi(us); err != nil {
		return 0, 0, fmt.Errorf("--user %q: want numeric UID:GID", u)
	}
	if gid, err = strconv.Atoi(gs); err != nil {
		return 0, 0, fmt.Errorf("--user %q: want numeric UID:GID", u)
	}
	return uid, gid, nil
}

// Run builds one image per platform, gathers them in an image index and
// writes the OCI layout (and pushes it when asked).
func Run(ctx context.Context, o *Options, log io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	plats := make([]string, 0, len(o.Binaries))
	for p := range o.Binaries {
		plats = append(plats, p)
	}
	sort.Strings(plats)

	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range plats {
		plat, _ := v1.ParsePlatform(p)
		img, err := o.image(*plat, o.Binaries[p])
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: plat},
		})
	}
	idx = mutate.Annotations(idx, o.annotations()).(v1.ImageIndex)

	if err := os.RemoveAll(o.Out); err != nil {
		return err
	}
	lp, err := layout.Write(o.Out, empty.Index)
	if err != nil {
		return err
	}
	ann := map[string]string{"org.opencontainers.image.ref.name": o.Version}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(ann)); err != nil {
		return err
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "%s %s: %s (%s) in %s\n", o.Name, o.Version, d, strings.Join(plats, ", "), o.Out)

	if o.Push != "" {
		ref, err := name.ParseReference(o.Push)
		if err != nil {
			return fmt.Errorf("--push: %w", err)
		}
		if err := remote.WriteIndex(ref, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
			return fmt.Errorf("push %s: %w", ref, err)
		}
		fmt.Fprintf(log, "pushed %s@%s\n", ref, d)
	}
	return nil
}

func (o *Options) annotations() map[string]string {
	a := map[string]string{
		"org.opencontainers.image.title":   o.Name,
		"org.opencontainers.image.version": o.Version,
		"org.opencontainers.image.source":  o.Source,
		"org.opencontainers.image.created": o.Created.Format(time.RFC3339),
	}
	if o.Revision != "" {
		a["org.opencontainers.image.revision"] = o.Revision
	}
	if o.Description != "" {
		a["org.opencontainers.image.description"] = o.Description
	}
	if o.Licenses != "" {
		a["org.opencontainers.image.licenses"] = o.Licenses
	}
	return a
}

// image builds the image of one platform: a single layer with the binary,
// /etc/passwd and /etc/group naming the user, a home and /tmp.
func (o *Options) image(plat v1.Platform, binPath string) (v1.Image, error) {
	bin, err := os.ReadFile(binPath)
	if err != nil {
		return nil, err
	}
	layerTar, err := o.layerTar(bin)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
	cf.Created = v1.Time{Time: o.Created}
	cf.Author = ""
	cf.Config = v1.Config{
		Entrypoint: []string{o.Path},
		Cmd:        o.Args,
		User:       o.User,
		WorkingDir: o.WorkingDir,
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		Labels:     o.annotations(),
	}
	cf.History = []v1.History{{
		Created:   v1.Time{Time: o.Created},
		CreatedBy: "kennel hack/tools/images: " + path.Base(o.Path),
		Comment:   "static binary, user, /tmp",
	}}
	return mutate.ConfigFile(img, cf)
}

// layerTar is the layer's uncompressed tar, reproducible: fixed times and
// owners, sorted entries.
func (o *Options) layerTar(bin []byte) ([]byte, error) {
	uid, gid, _ := parseUser(o.User)
	home := "/home/nonroot"
	if uid == 0 {
		home = "/root"
	}
	passwd := "root:x:0:0:root:/root:/sbin/nologin\n"
	group := "root:x:0:\n"
	if uid != 0 {
		passwd += fmt.Sprintf("nonroot:x:%d:%d:nonroot:%s:/sbin/nologin\n", uid, gid, home)
		group += fmt.Sprintf("nonroot:x:%d:\n", gid)
	}

	type entry struct {
		name     string
		mode     int64
		uid, gid int
		data     []byte
		dir      bool
		link     string
	}
	entries := []entry{
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "tmp", mode: 0o1777, dir: true},
		{name: strings.TrimPrefix(home, "/"), mode: 0o700, uid: uid, gid: gid, dir: true},
		{name: strings.TrimPrefix(o.Path, "/"), mode: 0o755, data: bin},
	}
	if wd := strings.Trim(o.WorkingDir, "/"); wd != "" {
		entries = append(entries, entry{name: wd, mode: 0o755, dir: true})
	}
	if o.Rootfs != "" {
		tree, err := rootfsEntries(o.Rootfs)
		if err != nil {
			return nil, err
		}
		replaced := map[string]bool{}
		for _, t := range tree {
			replaced[t.name] = true
		}
		kept := entries[:0]
		for _, e := range entries {
			if !replaced[e.name] {
				kept = append(kept, e)
			}
		}
		entries = kept
		for _, t := range tree {
			entries = append(entries, entry{name: t.name, mode: t.mode, data: t.data, dir: t.dir, link: t.link})
		}
	}
	// Parent directories of everything, root-owned 0755.
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.name] = true
	}
	for _, e := range append([]entry(nil), entries...) {
		for d := path.Dir(e.name); d != "." && !seen[d]; d = path.Dir(d) {
			seen[d] = true
			entries = append(entries, entry{name: d, mode: 0o755, dir: true})
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name:    e.name,
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.gid,
			ModTime: o.Created,
			Format:  tar.FormatPAX,
		}
		switch {
		case e.dir:
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		case e.link != "":
			h.Typeflag = tar.TypeSymlink
			h.Linkname = e.link
		default:
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// treeEntry is one file, directory or symlink of a --rootfs tree, named
// relative to the image's root.
type treeEntry struct {
	name string
	mode int64
	data []byte
	dir  bool
	link string
}

// rootfsEntries reads the tree under dir.
func rootfsEntries(dir string) ([]treeEntry, error) {
	var out []treeEntry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := treeEntry{name: filepath.ToSlash(rel), mode: int64(info.Mode().Perm())}
		if info.Mode()&fs.ModeSticky != 0 {
			e.mode |= 0o1000
		}
		switch {
		case d.IsDir():
			e.dir = true
		case info.Mode()&fs.ModeSymlink != 0:
			if e.link, err = os.Readlink(p); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			if e.data, err = os.ReadFile(p); err != nil {
				return err
			}
		default:
			return fmt.Errorf("--rootfs: %s is neither a file, a directory nor a symlink", p)
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("--rootfs %s: %w", dir, err)
	}
	return out, nil
}
