package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

type convertOptions struct {
	files  []string
	output string
	to     string
}

func newConvertCommand(env *Env) *cobra.Command {
	o := &convertOptions{output: "yaml", to: "petset"}
	cmd := &cobra.Command{
		Use:   "convert -f FILE|-",
		Short: "Convert StatefulSet manifests to PetSet manifests",
		Long: `Convert StatefulSet manifests (YAML or JSON, one or many documents, or a List)
to PetSet manifests: apiVersion apps/v1 and kind StatefulSet become
kennel.dev/v1 and PetSet, the spec is kept field for field, and what the API
server wrote (status, uid, resourceVersion, generation, creationTimestamp,
managedFields, the last-applied annotation) is left out. Other documents are
copied unchanged, so a whole application's manifest can be converted. Needs
no cluster.

--to=statefulset converts PetSets back (refused for a PetSet with
spec.reserveOrdinals, which StatefulSets do not have).`,
		Example: `  # Convert a file and apply the result
  kubectl petset convert -f web.yaml | kubectl apply -f -

  # Convert a live StatefulSet's manifest
  kubectl get statefulset web -o yaml | kubectl petset convert -f -

  # JSON out
  kubectl petset convert -f web.yaml -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(env.Streams.In, env.Streams.Out)
		},
	}
	cmd.Flags().StringArrayVarP(&o.files, "filename", "f", nil, "Manifest to convert; - reads standard input. May be repeated.")
	cmd.Flags().StringVarP(&o.output, "output", "o", o.output, "Output format: yaml or json (several objects become a v1 List).")
	cmd.Flags().StringVar(&o.to, "to", o.to, "Convert to petset (from StatefulSets) or statefulset (from PetSets).")
	return cmd
}

func (o *convertOptions) run(stdin io.Reader, out io.Writer) error {
	if len(o.files) == 0 {
		return errors.New("no input: give -f FILE or -f - for standard input")
	}
	if o.output != "yaml" && o.output != "json" {
		return fmt.Errorf("-o %q: must be yaml or json", o.output)
	}
	conv, ok := converters[o.to]
	if !ok {
		return fmt.Errorf("--to=%q: must be petset or statefulset", o.to)
	}
	var objs []map[string]any
	for _, f := range o.files {
		docs, err := readDocs(f, stdin)
		if err != nil {
			return err
		}
		for i, d := range docs {
			c, err := convertDoc(d, conv)
			if err != nil {
				return fmt.Errorf("%s: document %d: %w", displayName(f), i+1, err)
			}
			objs = append(objs, c)
		}
	}
	return writeObjects(out, objs, o.output)
}

func displayName(f string) string {
	if f == "-" {
		return "standard input"
	}
	return f
}

// readDocs decodes every YAML or JSON document of the file (or stdin for
// "-"); empty documents are skipped.
func readDocs(f string, stdin io.Reader) ([]map[string]any, error) {
	var r io.Reader = stdin
	if f != "-" {
		file, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		defer file.Close()
		r = file
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	var docs []map[string]any
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return docs, nil
			}
			return nil, fmt.Errorf("%s: document %d: %w", displayName(f), len(docs)+1, err)
		}
		if m != nil {
			docs = append(docs, m)
		}
	}
}

// converter turns one kind into another.
type converter struct {
	fromAPIVersion, fromKind string
	toAPIVersion, toKind     string
	check                    func(obj map[string]any) error
}

var converters = map[string]converter{
	"petset":      {"apps/v1", "StatefulSet", kennelv1.SchemeGroupVersion.String(), "PetSet", checkPetSet},
	"statefulset": {kennelv1.SchemeGroupVersion.String(), "PetSet", "apps/v1", "StatefulSet", checkStatefulSet},
}

// convertDoc converts a document of the converter's source kind (or each
// such item of a List) and returns other documents unchanged.
func convertDoc(doc map[string]any, c converter) (map[string]any, error) {
	kind, _ := doc["kind"].(string)
	apiVersion, _ := doc["apiVersion"].(string)
	if kind == "List" || (strings.HasSuffix(kind, "List") && doc["items"] != nil) {
		items, _ := doc["items"].([]any)
		for i, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				continue
			}
			conv, err := convertDoc(m, c)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			items[i] = conv
		}
		if kind != "List" && doc["apiVersion"] == c.fromAPIVersion {
			doc["apiVersion"], doc["kind"] = "v1", "List"
		}
		return doc, nil
	}
	if kind != c.fromKind {
		return doc, nil
	}
	if apiVersion != c.fromAPIVersion {
		return nil, fmt.Errorf("%s %s: only %s %s is converted", apiVersion, kind, c.fromAPIVersion, c.fromKind)
	}
	return convertObject(doc, c)
}

// serverFields are the metadata fields the API server writes.
var serverFields = []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"}

const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

func convertObject(doc map[string]any, c converter) (map[string]any, error) {
	out := map[string]any{}
	for k, v := range doc {
		out[k] = v
	}
	out["apiVersion"], out["kind"] = c.toAPIVersion, c.toKind
	delete(out, "status")
	if md, ok := doc["metadata"].(map[string]any); ok {
		m := map[string]any{}
		for k, v := range md {
			m[k] = v
		}
		for _, f := range serverFields {
			delete(m, f)
		}
		if ann, ok := m["annotations"].(map[string]any); ok {
			a := map[string]any{}
			for k, v := range ann {
				if k != lastAppliedAnnotation {
					a[k] = v
				}
			}
			m["annotations"] = a
			if len(a) == 0 {
				delete(m, "annotations")
			}
		}
		out["metadata"] = m
	}
	if err := c.check(out); err != nil {
		return nil, fmt.Errorf("%s %q: %w", c.fromKind, name(out), err)
	}
	return out, nil
}

func name(obj map[string]any) string {
	md, _ := obj["metadata"].(map[string]any)
	n, _ := md["name"].(string)
	return n
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// checkPetSet decodes the result strictly as a PetSet and checks what a
// PetSet requires beyond a StatefulSet.
func checkPetSet(obj map[string]any) error {
	var set kennelv1.PetSet
	if err := strictDecode(obj, &set); err != nil {
		return err
	}
	if set.Spec.ServiceName == "" {
		return errors.New("spec.serviceName is empty: a PetSet needs its governing headless Service (the pets' DNS names)")
	}
	if !dnsLabel.MatchString(set.Name) {
		return fmt.Errorf("metadata.name %q is not a DNS label (lowercase letters, digits, '-'): it prefixes every pet's hostname", set.Name)
	}
	return nil
}

// checkStatefulSet refuses what a StatefulSet cannot express.
func checkStatefulSet(obj map[string]any) error {
	spec, _ := obj["spec"].(map[string]any)
	if r, ok := spec["reserveOrdinals"].([]any); ok && len(r) > 0 {
		return errors.New("spec.reserveOrdinals has no StatefulSet equivalent")
	}
	delete(spec, "reserveOrdinals")
	var set appsv1.StatefulSet
	return strictDecode(obj, &set)
}

// strictDecode decodes obj into v, failing on unknown or duplicate fields.
func strictDecode(obj map[string]any, v any) error {
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(b, v)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		return fmt.Errorf("%w", errors.Join(strict...))
	}
	return nil
}

func writeObjects(out io.Writer, objs []map[string]any, format string) error {
	if format == "json" {
		var v any = map[string]any{"apiVersion": "v1", "kind": "List", "items": objs}
		if len(objs) == 1 {
			v = objs[0]
		}
		b, err := json.MarshalIndent(v, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", b)
		return err
	}
	var buf bytes.Buffer
	for i, o := range objs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		b, err := yaml.Marshal(o)
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	_, err := out.Write(buf.Bytes())
	return err
}
