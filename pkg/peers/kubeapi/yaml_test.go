package kubeapi

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseYAML(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string // want: JSON of the result, or "error: substring"
	}{
		{"as kubectl writes it", `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tCg==
    server: https://127.0.0.1:6443
  name: kind-kind
contexts:
- context:
    cluster: kind-kind
    user: kind-kind
  name: kind-kind
current-context: kind-kind
kind: Config
preferences: {}
users:
- name: kind-kind
  user:
    token: abc
`, `{"apiVersion":"v1","clusters":[{"cluster":{"certificate-authority-data":"LS0tCg==","server":"https://127.0.0.1:6443"},"name":"kind-kind"}],"contexts":[{"context":{"cluster":"kind-kind","user":"kind-kind"},"name":"kind-kind"}],"current-context":"kind-kind","kind":"Config","preferences":{},"users":[{"name":"kind-kind","user":{"token":"abc"}}]}`},
		{"indented sequences, comments, quotes", `---
# a comment
clusters:   # trailing comment
  - name: "a # not a comment"
    cluster:
      server: 'https://h:1'   # comment
      insecure-skip-tls-verify: true
  -   name: b
"quoted key": "tab\tand \"quotes\""
single: 'it''s'
empty:
nothing: ~
`, `{"clusters":[{"cluster":{"insecure-skip-tls-verify":true,"server":"https://h:1"},"name":"a # not a comment"},{"name":"b"}],"empty":null,"nothing":null,"quoted key":"tab\tand \"quotes\"","single":"it's"}`},
		{"flow collections", `clusters: [{name: k, cluster: {server: "https://h:1", x: [1, 'two', {a: b}]}}]
users: []
url: http://h:8080/path`, `{"clusters":[{"cluster":{"server":"https://h:1","x":["1","two",{"a":"b"}]},"name":"k"}],"url":"http://h:8080/path","users":[]}`},
		{"nested sequences", "a:\n- - x\n  - y\n- z\n", `{"a":[["x","y"],"z"]}`},
		{"block scalar", "a: |\n  text\n", "error: not supported"},
		{"anchor", "a: &x b\n", "error: not supported"},
		{"multi-line flow", "a: [b,\n  c]\n", "error: not closed"},
		{"bad indentation", "a: b\n  c: d\n", "error: unexpected indentation"},
		{"not a mapping", "a: b\njust text\n", "error: expected \"key: value\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := parseYAML(tc.in)
			if want, ok := strings.CutPrefix(tc.want, "error: "); ok {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("got %v, %v; want an error with %q", v, err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(v)
			if string(b) != tc.want {
				t.Errorf("got  %s\nwant %s", b, tc.want)
			}
		})
	}
}
