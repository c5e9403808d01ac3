package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kennel-dev/kennel/test/plane"
)

type config struct {
	binDir    string
	dataDir   string
	stateFile string
	nodes     int
	realNode  bool
	nodeBin   string
	images    string   // pause, toolbox, nginx layouts
	imports   []string // REF=DIR
}

// realNodeOptions turns the flags into the plane's real-node options.
func (cfg config) realNodeOptions() (*plane.RealNodeOptions, error) {
	if !cfg.realNode {
		return nil, nil
	}
	if cfg.images == "" {
		return nil, errors.New("--real-node needs --images (hack/realnode-images.sh prints the directory)")
	}
	o := &plane.RealNodeOptions{
		BinDir:     cfg.nodeBin,
		PauseImage: filepath.Join(cfg.images, "pause"),
		Images: map[string]string{
			"kennel.local/toolbox:1":   filepath.Join(cfg.images, "toolbox"),
			"kennel.local/nginx:1":     filepath.Join(cfg.images, "nginx"),
			"kennel.local/zookeeper:1": filepath.Join(cfg.images, "zookeeper"),
			"kennel.local/consul:1":    filepath.Join(cfg.images, "consul"),
		},
	}
	for _, imp := range cfg.imports {
		ref, dir, ok := strings.Cut(imp, "=")
		if !ok || ref == "" || dir == "" {
			return nil, fmt.Errorf("--import %q: want REF=DIR", imp)
		}
		o.Images[ref] = dir
	}
	return o, nil
}

// State is what the state file holds.
type State struct {
	Pid        int            `json:"pid"`
	DataDir    string         `json:"dataDir"`
	BinDir     string         `json:"binDir"`
	Kubeconfig string         `json:"kubeconfig"`
	APIServer  string         `json:"apiServer"`
	DNS        string         `json:"dns"`
	Components map[string]int `json:"components"`
	Started    time.Time      `json:"started"`
}

func run(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	if cfg.dataDir == "" {
		return errors.New("--dir is required")
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
	}
	rn, err := cfg.realNodeOptions()
	if err != nil {
		return err
	}
	opts := plane.Options{BinDir: cfg.binDir, DataDir: cfg.dataDir, Nodes: cfg.nodes, Logf: logf, RealNode: rn}
	if rn != nil {
		opts.ReadyTimeout = 5 * time.Minute
	}
	p, err := plane.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer p.Stop()

	st := State{
		Pid:        os.Getpid(),
		DataDir:    p.Dir(),
		BinDir:     p.BinDir(),
		Kubeconfig: p.Kubeconfig(),
		APIServer:  p.APIServerURL(),
		DNS:        p.DNSAddr(),
		Components: p.Pids(),
		Started:    time.Now().UTC(),
	}
	if cfg.stateFile != "" {
		if err := writeState(cfg.stateFile, st); err != nil {
			return err
		}
		defer os.Remove(cfg.stateFile)
	}
	fmt.Fprintf(stdout, "export KUBECONFIG=%s\n# CoreDNS (cluster.local, UDP+TCP): %s\n# API server: %s\n", st.Kubeconfig, st.DNS, st.APIServer)
	if rn != nil {
		fmt.Fprintf(stdout, "# real node: %s (pods on %s; images imported, imagePullPolicy IfNotPresent or Never)\n", plane.RealNodeName, plane.RealNodePodCIDR)
	}

	// Run until told to stop, or until a component dies.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			logf("stopping the plane")
			return nil
		case <-tick.C:
			if err := p.Err(); err != nil {
				p.DumpLogs(stderr, plane.DumpLogLines)
				return err
			}
		}
	}
}

func writeState(path string, st State) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
