// Package ocilayout reads OCI image layouts (as hack/images.sh writes them)
// with the standard library only, verifying every blob's digest and size, so
// tests can check the images independently of the code that assembled them.
package ocilayout

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Media types.
const (
	MediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	MediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	MediaTypeLayerGz  = "application/vnd.oci.image.layer.v1.tar+gzip"
	AnnotationRefName = "org.opencontainers.image.ref.name"
)

// Descriptor points at a blob.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *Platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Platform of an image.
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Index is an image index (index.json, or a nested one).
type Index struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	Manifests     []Descriptor      `json:"manifests"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// Manifest is an image manifest.
type Manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        Descriptor   `json:"config"`
	Layers        []Descriptor `json:"layers"`
}

// Config is the part of an image configuration tests look at.
type Config struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Created      string `json:"created"`
	Config       struct {
		Entrypoint []string          `json:"Entrypoint"`
		Cmd        []string          `json:"Cmd"`
		User       string            `json:"User"`
		WorkingDir string            `json:"WorkingDir"`
		Env        []string          `json:"Env"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// File is one entry of an image's filesystem (all layers applied in order;
// whiteouts are not used by kennel's images and are reported as errors).
type File struct {
	Name     string // absolute path
	Type     byte   // tar type flag
	Mode     fs.FileMode
	UID, GID int
	Linkname string
	Data     []byte // regular files only
}

// Image is one platform's image.
type Image struct {
	Descriptor Descriptor
	Manifest   Manifest
	Config     Config
	Files      map[string]File
}

// Layout is an OCI image layout on disk.
type Layout struct {
	Dir   string
	Index Index
}

// Open reads the layout's oci-layout marker and index.json.
func Open(dir string) (*Layout, error) {
	var marker struct {
		Version string `json:"imageLayoutVersion"`
	}
	if err := readJSON(filepath.Join(dir, "oci-layout"), &marker); err != nil {
		return nil, err
	}
	if marker.Version != "1.0.0" {
		return nil, fmt.Errorf("%s: imageLayoutVersion %q, want 1.0.0", dir, marker.Version)
	}
	l := &Layout{Dir: dir}
	if err := readJSON(filepath.Join(dir, "index.json"), &l.Index); err != nil {
		return nil, err
	}
	if l.Index.SchemaVersion != 2 {
		return nil, fmt.Errorf("index.json: schemaVersion %d", l.Index.SchemaVersion)
	}
	return l, nil
}

func readJSON(p string, v any) error {
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

// Blob returns the content of d, after checking its size and digest.
func (l *Layout) Blob(d Descriptor) ([]byte, error) {
	alg, hexDigest, ok := strings.Cut(d.Digest, ":")
	if !ok || alg != "sha256" || len(hexDigest) != 64 {
		return nil, fmt.Errorf("unsupported digest %q", d.Digest)
	}
	data, err := os.ReadFile(filepath.Join(l.Dir, "blobs", alg, hexDigest))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != d.Size {
		return nil, fmt.Errorf("blob %s: %d bytes, descriptor says %d", d.Digest, len(data), d.Size)
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != hexDigest {
		return nil, fmt.Errorf("blob %s: content digest is sha256:%x", d.Digest, sum)
	}
	return data, nil
}

// Ref returns the descriptor of index.json tagged ref.
func (l *Layout) Ref(ref string) (Descriptor, error) {
	var tags []string
	for _, d := range l.Index.Manifests {
		if d.Annotations[AnnotationRefName] == ref {
			return d, nil
		}
		tags = append(tags, d.Annotations[AnnotationRefName])
	}
	return Descriptor{}, fmt.Errorf("no image tagged %q in %s (tags: %q)", ref, l.Dir, tags)
}

// ImageIndex reads the image index d points at.
func (l *Layout) ImageIndex(d Descriptor) (Index, error) {
	var idx Index
	if d.MediaType != MediaTypeIndex {
		return idx, fmt.Errorf("%s is a %s, not an image index", d.Digest, d.MediaType)
	}
	data, err := l.Blob(d)
	if err != nil {
		return idx, err
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return idx, err
	}
	if idx.MediaType != MediaTypeIndex {
		return idx, fmt.Errorf("index %s has mediaType %q", d.Digest, idx.MediaType)
	}
	return idx, nil
}

// Image reads the image d points at: manifest, config and files.
func (l *Layout) Image(d Descriptor) (*Image, error) {
	if d.MediaType != MediaTypeManifest {
		return nil, fmt.Errorf("%s is a %s, not an image manifest", d.Digest, d.MediaType)
	}
	img := &Image{Descriptor: d, Files: map[string]File{}}
	data, err := l.Blob(d)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &img.Manifest); err != nil {
		return nil, err
	}
	if img.Manifest.Config.MediaType != MediaTypeConfig {
		return nil, fmt.Errorf("config media type %q", img.Manifest.Config.MediaType)
	}
	cfg, err := l.Blob(img.Manifest.Config)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(cfg, &img.Config); err != nil {
		return nil, err
	}
	if len(img.Config.RootFS.DiffIDs) != len(img.Manifest.Layers) {
		return nil, fmt.Errorf("%d diff_ids for %d layers", len(img.Config.RootFS.DiffIDs), len(img.Manifest.Layers))
	}
	for i, ld := range img.Manifest.Layers {
		if err := l.applyLayer(img, ld, img.Config.RootFS.DiffIDs[i]); err != nil {
			return nil, fmt.Errorf("layer %s: %w", ld.Digest, err)
		}
	}
	return img, nil
}

func (l *Layout) applyLayer(img *Image, d Descriptor, diffID string) error {
	if d.MediaType != MediaTypeLayerGz {
		return fmt.Errorf("unsupported layer media type %q", d.MediaType)
	}
	data, err := l.Blob(d)
	if err != nil {
		return err
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return err
	}
	if sum := sha256.Sum256(raw); "sha256:"+hex.EncodeToString(sum[:]) != diffID {
		return fmt.Errorf("uncompressed digest sha256:%x, config's diff_id %s", sum, diffID)
	}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean("/" + h.Name)
		if strings.HasPrefix(path.Base(name), ".wh.") {
			return fmt.Errorf("whiteout %s not supported", name)
		}
		f := File{Name: name, Type: h.Typeflag, Mode: fs.FileMode(h.Mode).Perm(), UID: h.Uid, GID: h.Gid, Linkname: h.Linkname}
		if h.Mode&0o1000 != 0 {
			f.Mode |= fs.ModeSticky
		}
		if h.Typeflag == tar.TypeReg {
			if f.Data, err = io.ReadAll(tr); err != nil {
				return err
			}
		}
		img.Files[name] = f
	}
}

// Images returns the images of the multi-platform index tagged ref.
func (l *Layout) Images(ref string) (Index, []*Image, error) {
	d, err := l.Ref(ref)
	if err != nil {
		return Index{}, nil, err
	}
	idx, err := l.ImageIndex(d)
	if err != nil {
		return Index{}, nil, err
	}
	var out []*Image
	for _, m := range idx.Manifests {
		img, err := l.Image(m)
		if err != nil {
			return idx, nil, err
		}
		out = append(out, img)
	}
	return idx, out, nil
}
