package kubeapi_test

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kennel-dev/kennel/pkg/peers/kubeapi"
	"github.com/kennel-dev/kennel/pkg/peers/kubeapi/apitest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func hostPort(t *testing.T, url string) (string, string) {
	t.Helper()
	hp := strings.TrimPrefix(url, "https://")
	i := strings.LastIndexByte(hp, ':')
	return hp[:i], hp[i+1:]
}

// startTLS starts a server over HTTPS that wants the token and holds the
// slice of Service ns/web with web-0 at 10.0.0.1.
func startTLS(t *testing.T, token string) *apitest.Server {
	t.Helper()
	api := apitest.StartTLS()
	t.Cleanup(api.Close)
	api.RequireToken(token)
	api.Apply(apitest.Slice("ns", "web", "a", "IPv4", apitest.Endpoint("web-0", true, true, "10.0.0.1")))
	return api
}

func TestInCluster(t *testing.T) {
	api := startTLS(t, "sa-token")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), api.CA(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("sa-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port := hostPort(t, api.URL)
	cfg, err := kubeapi.InCluster(env(map[string]string{"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}), dir)
	if err != nil {
		t.Fatal(err)
	}
	list, err := kubeapi.NewClient(cfg).ListSlices(context.Background(), "ns", "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Endpoints[0].Addresses[0] != "10.0.0.1" || list.Metadata.ResourceVersion == "" {
		t.Fatalf("list %+v", list)
	}

	// A wrong token: 401 as a StatusError.
	api.RequireToken("other")
	_, err = kubeapi.NewClient(cfg).ListSlices(context.Background(), "ns", "web")
	var se *kubeapi.StatusError
	if !errors.As(err, &se) || se.Code != 401 {
		t.Fatalf("got %v, want 401", err)
	}

	for name, tc := range map[string]struct {
		env  map[string]string
		dir  string
		want string
	}{
		"outside a pod":  {map[string]string{}, dir, "not running in a pod"},
		"no token":       {map[string]string{"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}, t.TempDir(), "no service account token"},
		"only host port": {map[string]string{"KUBERNETES_SERVICE_HOST": host}, dir, "not running in a pod"},
	} {
		if _, err := kubeapi.InCluster(env(tc.env), tc.dir); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", name, err, tc.want)
		}
	}
}

func TestLoadKubeconfig(t *testing.T) {
	api := startTLS(t, "file-token")
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "ca.pem"), api.CA(), 0o600))
	must(os.WriteFile(filepath.Join(dir, "tok"), []byte("file-token"), 0o600))
	caData := base64.StdEncoding.EncodeToString(api.CA())
	for name, tc := range map[string]struct {
		kc   string
		want string // "" for success
	}{
		"relative CA file and token file": {`
current-context: c
clusters: [{name: k, cluster: {server: ` + strconv.Quote(api.URL) + `, certificate-authority: ca.pem}}]
users: [{name: u, user: {tokenFile: tok}}]
contexts: [{name: c, context: {cluster: k, user: u}}]`, ""},
		"CA data and inline token": {`
current-context: c
clusters: [{name: k, cluster: {server: ` + strconv.Quote(api.URL) + `, certificate-authority-data: ` + caData + `}}]
users: [{name: u, user: {token: file-token}}]
contexts: [{name: c, context: {cluster: k, user: u}}]`, ""},
		"no CA: the server is not trusted": {`
current-context: c
clusters: [{name: k, cluster: {server: ` + strconv.Quote(api.URL) + `}}]
users: [{name: u, user: {token: file-token}}]
contexts: [{name: c, context: {cluster: k, user: u}}]`, "certificate"},
		"JSON": {`{"current-context": "c",
 "clusters": [{"name": "k", "cluster": {"server": ` + strconv.Quote(api.URL) + `, "certificate-authority-data": "` + caData + `"}}],
 "users": [{"name": "u", "user": {"token": "file-token"}}],
 "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}`, ""},
		"exec plugin": {`
current-context: c
clusters: [{name: k, cluster: {server: ` + strconv.Quote(api.URL) + `}}]
users: [{name: u, user: {exec: {command: aws}}}]
contexts: [{name: c, context: {cluster: k, user: u}}]`, "exec or auth-provider plugin"},
		"missing context":    {`current-context: nope`, `context "nope" not found`},
		"no current context": {`clusters: []`, "no current-context"},
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, "kubeconfig")
			must(os.WriteFile(p, []byte(tc.kc), 0o600))
			cfg, err := kubeapi.LoadKubeconfig(p)
			if err == nil {
				_, err = kubeapi.NewClient(cfg).ListSlices(context.Background(), "ns", "web")
			}
			if tc.want == "" && err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestWatchGoneAndEvents(t *testing.T) {
	api := apitest.Start()
	defer api.Close()
	c := kubeapi.NewClient(api.Config())
	ctx := context.Background()
	list, err := c.ListSlices(ctx, "ns", "web")
	if err != nil {
		t.Fatal(err)
	}
	api.Apply(apitest.Slice("ns", "web", "a", "IPv4"))
	api.Apply(apitest.Slice("ns", "other", "b", "IPv4"))
	api.Delete("ns", "a")
	w, err := c.WatchSlices(ctx, "ns", "web", list.Metadata.ResourceVersion)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 2 {
		ev, err := w.Next()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.Type+" "+ev.Object.Metadata.Name)
	}
	w.Close()
	if strings.Join(got, ",") != "ADDED a,DELETED a" {
		t.Fatalf("events %q", got)
	}
	api.Compact()
	w, err = c.WatchSlices(ctx, "ns", "web", list.Metadata.ResourceVersion)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ev, err := w.Next()
	if err != nil || ev.Type != kubeapi.Error || !kubeapi.IsGone(ev.Status.Err()) {
		t.Fatalf("got %+v %v, want an ERROR event with 410", ev, err)
	}
}
