// Command crdbounds adds size bounds (maxItems, maxProperties, maxLength) to
// fields of a generated CRD schema that belong to embedded upstream types,
// where controller-gen markers cannot reach. The API server's CEL cost
// estimator needs such bounds before it accepts rules that iterate over those
// fields. The bounds come from a YAML file:
//
//   - path: spec.selector.matchLabels   # dot-separated property names;
//     maxProperties: 64                 # "[]" steps into array items,
//     reason: ...                       # "*" into map values
//
// A bound may also declare a string property that the generated schema
// leaves out (declare: string): metadata.name, so that CEL rules about the
// name can point their fieldPath at it.
//
// Usage: crdbounds -bounds FILE CRD.yaml... (rewrites each CRD in place; every
// other bound must land on an existing schema node).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

type bound struct {
	Path          string `json:"path"`
	MaxItems      *int64 `json:"maxItems,omitempty"`
	MaxProperties *int64 `json:"maxProperties,omitempty"`
	MaxLength     *int64 `json:"maxLength,omitempty"`
	Declare       string `json:"declare,omitempty"`
	Reason        string `json:"reason"`
}

func main() {
	fs := flag.NewFlagSet("crdbounds", flag.ContinueOnError)
	boundsFile := fs.String("bounds", "", "YAML list of bounds to apply")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if err := run(*boundsFile, fs.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "crdbounds:", err)
		os.Exit(1)
	}
}

func run(boundsFile string, crds []string) error {
	if boundsFile == "" || len(crds) == 0 {
		return errors.New("usage: crdbounds -bounds FILE CRD.yaml [CRD.yaml]")
	}
	data, err := os.ReadFile(boundsFile)
	if err != nil {
		return err
	}
	var bounds []bound
	if err := yaml.UnmarshalStrict(data, &bounds); err != nil {
		return fmt.Errorf("%s: %w", boundsFile, err)
	}
	for _, file := range crds {
		if err := apply(file, bounds); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
	}
	return nil
}

func apply(file string, bounds []bound) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var crd map[string]any
	if err := yaml.Unmarshal(data, &crd); err != nil {
		return err
	}
	versions, _ := get(crd, "spec", "versions").([]any)
	if len(versions) == 0 {
		return errors.New("no spec.versions")
	}
	for _, v := range versions {
		root, ok := get(v, "schema", "openAPIV3Schema").(map[string]any)
		if !ok {
			return errors.New("a version has no openAPIV3Schema")
		}
		for _, b := range bounds {
			if err := declare(root, b); err != nil {
				return err
			}
			node, err := lookup(root, b.Path)
			if err != nil {
				return err
			}
			set(node, "maxItems", b.MaxItems)
			set(node, "maxProperties", b.MaxProperties)
			set(node, "maxLength", b.MaxLength)
		}
	}
	out, err := yaml.Marshal(crd)
	if err != nil {
		return err
	}
	// controller-gen starts every CRD file with a document marker.
	return os.WriteFile(file, append([]byte("---\n"), out...), 0o644)
}

func get(x any, keys ...string) any {
	for _, k := range keys {
		m, ok := x.(map[string]any)
		if !ok {
			return nil
		}
		x = m[k]
	}
	return x
}

// lookup walks a schema along a dot-separated path of property names, "[]"
// (array items) and "*" (map values).
func lookup(schema map[string]any, path string) (map[string]any, error) {
	node := schema
	for _, step := range strings.Split(path, ".") {
		var next any
		switch step {
		case "[]":
			next = node["items"]
		case "*":
			next = node["additionalProperties"]
		default:
			next = get(node, "properties", step)
		}
		m, ok := next.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("bound path %q: no schema at %q", path, step)
		}
		node = m
	}
	return node, nil
}

// declare adds the bound's property as {type: <declare>} under its parent
// object when the schema does not have it.
func declare(root map[string]any, b bound) error {
	if b.Declare == "" {
		return nil
	}
	parentPath, name := "", b.Path
	if i := strings.LastIndex(b.Path, "."); i >= 0 {
		parentPath, name = b.Path[:i], b.Path[i+1:]
	}
	parent := root
	if parentPath != "" {
		var err error
		if parent, err = lookup(root, parentPath); err != nil {
			return err
		}
	}
	props, _ := parent["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
		parent["properties"] = props
	}
	if _, ok := props[name]; !ok {
		props[name] = map[string]any{"type": b.Declare}
	}
	return nil
}

func set(node map[string]any, key string, v *int64) {
	if v != nil {
		node[key] = *v
	}
}
