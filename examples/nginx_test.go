package examples_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kennel-dev/kennel/internal/testenv"
	"github.com/kennel-dev/kennel/pkg/peers/dnstest"
)

// nginxBinary finds nginx (Debian puts it in /usr/sbin, often not in a
// non-root PATH), or skips the test: hack/ensure-test-deps.sh installs it.
func nginxBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	testenv.SkipOrFail(t, "nginx is not installed: run hack/ensure-test-deps.sh (apt-get install nginx-light) to check the generated configs with a real nginx")
	return ""
}

// nginxDir returns a directory nginx's worker processes can read even when
// they run as another user (nginx started as root switches to nobody).
func nginxDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "kennel-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// localEnv points every file of the generated config into dir, for an
// unprivileged nginx on 127.0.0.1.
func localEnv(dir, listen string) []string {
	return []string{
		"NGINX_CONF=" + filepath.Join(dir, "conf", "nginx.conf"),
		"HTML_ROOT=" + filepath.Join(dir, "html"),
		"LISTEN=" + listen,
		"PID_FILE=" + filepath.Join(dir, "nginx.pid"),
		"ERROR_LOG=" + filepath.Join(dir, "error.log"),
		"ACCESS_LOG=" + filepath.Join(dir, "access.log"),
		"TEMP_DIR=" + filepath.Join(dir, "tmp"),
		"WORKER_PROCESSES=1",
	}
}

// generate runs the nginx-master script for self among peers and returns the
// path of the config it wrote.
func generate(t *testing.T, self pet, peers []string, env []string) string {
	t.Helper()
	r := run(t, shell{name: "shebang"}, nginxScript, stdinOf(peers), append(peerEnv(self, peers), env...))
	if r.err != nil {
		t.Fatalf("on-start.sh: %v\n%s", r.err, r.stderr)
	}
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "NGINX_CONF="); ok {
			return v
		}
	}
	t.Fatal("no NGINX_CONF in env")
	return ""
}

func TestNginxMasterConfigAccepted(t *testing.T) {
	bin := nginxBinary(t)
	for _, c := range sizeCases {
		t.Run(c.String(), func(t *testing.T) {
			dir := nginxDir(t)
			peers := peersOf("web", "nginx", c.n)
			env := append(localEnv(dir, "127.0.0.1:8080"), "RESOLVER=127.0.0.1:53")
			conf := generate(t, pet{"web", "nginx", c.self}, peers, env)
			if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "-t", "-q", "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", conf).CombinedOutput()
			if err != nil {
				data, _ := os.ReadFile(conf)
				t.Fatalf("nginx -t rejects the config: %v\n%s\n%s", err, out, data)
			}
		})
	}
	t.Run("production defaults", func(t *testing.T) {
		// The config as written in a pod, except for the file's own path:
		// nginx -t parses it the same (listen 80 is not bound by -t).
		dir := nginxDir(t)
		for _, self := range []int{0, 1} {
			conf := generate(t, pet{"web", "nginx", self}, peersOf("web", "nginx", 3),
				[]string{"NGINX_CONF=" + filepath.Join(dir, fmt.Sprint(self), "nginx.conf"), "RESOLV_CONF=testdata/resolv.conf",
					"HTML_ROOT=" + filepath.Join(dir, "html")})
			out, err := exec.Command(bin, "-t", "-q", "-e", filepath.Join(dir, "error.log"), "-c", conf).CombinedOutput()
			if err != nil {
				data, _ := os.ReadFile(conf)
				t.Fatalf("nginx -t rejects the config of pet %d: %v\n%s\n%s", self, err, out, data)
			}
		}
	})
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startNginx runs nginx in the foreground with conf until the test ends.
func startNginx(t *testing.T, bin, dir, conf string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	errLog := filepath.Join(dir, "error.log")
	cmd := exec.Command(bin, "-e", errLog, "-p", dir, "-c", conf, "-g", "daemon off;")
	out, err := os.Create(filepath.Join(dir, "nginx.out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt) // SIGINT: fast shutdown
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		out.Close()
		if t.Failed() {
			for _, f := range []string{"nginx.out", "error.log"} {
				data, _ := os.ReadFile(filepath.Join(dir, f))
				t.Logf("%s of %s:\n%s", f, dir, data)
			}
		}
	})
	select {
	case <-done:
		data, _ := os.ReadFile(errLog)
		t.Fatalf("nginx exited at once:\n%s", data)
	default:
	}
}

// get fetches url, retrying while nginx starts (connection refused), for at
// most a few seconds.
func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			return resp, string(body)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("GET %s: %v", url, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestNginxMasterProxyForwards runs the configs of pet 0 and pet 1 of a
// 3-pet set in two real nginx processes on 127.0.0.1 and checks that pet 1
// forwards requests to pet 0, which it finds by its DNS name through the
// resolver its config names (a test DNS server on 127.0.0.1).
func TestNginxMasterProxyForwards(t *testing.T) {
	bin := nginxBinary(t)
	peers := peersOf("web", "nginx", 3)
	master, proxy := pet{"web", "nginx", 0}, pet{"web", "nginx", 1}

	dns, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.Close)
	dns.SetAddrs(master.fqdn(), "127.0.0.1")

	masterPort, proxyPort := freePort(t), freePort(t)
	masterDir, proxyDir := nginxDir(t), nginxDir(t)

	masterConf := generate(t, master, peers, localEnv(masterDir, fmt.Sprintf("127.0.0.1:%d", masterPort)))
	proxyConf := generate(t, proxy, peers, append(localEnv(proxyDir, fmt.Sprintf("127.0.0.1:%d", proxyPort)),
		fmt.Sprintf("MASTER_PORT=%d", masterPort), "RESOLVER="+dns.Addr))

	// The master's volume was empty: on-start wrote a page; add one more file.
	if err := os.WriteFile(filepath.Join(masterDir, "html", "data.txt"), []byte("kept on the master\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	index, err := os.ReadFile(filepath.Join(masterDir, "html", "index.html"))
	if err != nil {
		t.Fatalf("the master's on-start wrote no index.html: %v", err)
	}
	if _, err := os.Stat(filepath.Join(proxyDir, "html", "index.html")); err == nil {
		t.Errorf("a proxy wrote an index.html of its own")
	}

	startNginx(t, bin, masterDir, masterConf)
	startNginx(t, bin, proxyDir, proxyConf)

	// The master serves its files itself.
	resp, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", masterPort))
	if resp.StatusCode != 200 || body != string(index) || resp.Header.Get("X-Kennel-Served-By") != master.fqdn() {
		t.Fatalf("master: %d %q %v", resp.StatusCode, body, resp.Header)
	}

	// The proxy forwards to it.
	tests := []struct {
		path string
		code int
		body string
	}{
		{"/", 200, string(index)},
		{"/data.txt", 200, "kept on the master\n"},
		{"/missing", 404, ""},
	}
	for _, tc := range tests {
		resp, body := get(t, fmt.Sprintf("http://127.0.0.1:%d%s", proxyPort, tc.path))
		if resp.StatusCode != tc.code {
			t.Errorf("GET %s via the proxy: status %d, want %d (%q)", tc.path, resp.StatusCode, tc.code, body)
			continue
		}
		if got := resp.Header.Get("X-Kennel-Served-By"); got != master.fqdn() {
			t.Errorf("GET %s via the proxy: served by %q, want the master %s", tc.path, got, master.fqdn())
		}
		if got := resp.Header.Get("X-Kennel-Proxied-By"); got != proxy.fqdn() {
			t.Errorf("GET %s via the proxy: proxied by %q, want %s", tc.path, got, proxy.fqdn())
		}
		if tc.body != "" && body != tc.body {
			t.Errorf("GET %s via the proxy: body %q, want %q", tc.path, body, tc.body)
		}
	}
	if udp, tcp := dns.Queries(); udp+tcp == 0 {
		t.Errorf("the proxy never asked the DNS server for the master's address")
	}
	// The master's access log shows the forwarded requests.
	logData, _ := os.ReadFile(filepath.Join(masterDir, "access.log"))
	if !strings.Contains(string(logData), "GET /data.txt") {
		t.Errorf("the master's access log lacks the forwarded request:\n%s", logData)
	}
}
