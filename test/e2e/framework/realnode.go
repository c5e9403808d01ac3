package framework

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kennel-dev/kennel/test/plane"
)

// Images on the real node, imported from OCI layouts: the project's own
// (make images) and the applications' (hack/realnode-images.sh).
const (
	ControllerImage = "kennel.local/controller:e2e"
	PeerFinderImage = "kennel.local/peer-finder:e2e"
	ToolboxImage    = "kennel.local/toolbox:1"
	NginxImage      = "kennel.local/nginx:1"
	ZooKeeperImage  = "kennel.local/zookeeper:1"
	ConsulImage     = "kennel.local/consul:1"
)

// realNodeOptions finds or builds what the real node needs, or says why
// this machine cannot run one:
//
//	KENNEL_NODE_BIN          kubelet and kube-proxy (default: hack/node-binaries.sh --print)
//	KENNEL_REALNODE_IMAGES   application image layouts (default: hack/realnode-images.sh)
//	KENNEL_PROJECT_IMAGES    controller and peer-finder layouts (default: hack/images.sh into a temporary directory)
func realNodeOptions(logf func(string, ...any)) (*plane.RealNodeOptions, error) {
	root := RepoRoot()
	nodeBin := os.Getenv("KENNEL_NODE_BIN")
	if nodeBin == "" {
		out, err := exec.Command(filepath.Join(root, "hack", "node-binaries.sh"), "--print").Output()
		if err != nil {
			return nil, errors.New("kubelet and kube-proxy are not built: run `export KENNEL_NODE_BIN=$(hack/node-binaries.sh)`")
		}
		nodeBin = strings.TrimSpace(string(out))
	}
	if err := plane.CheckRealNode(nodeBin); err != nil {
		return nil, err
	}
	apps := os.Getenv("KENNEL_REALNODE_IMAGES")
	if apps == "" {
		logf("e2e: building the real node's application images (hack/realnode-images.sh; cached)")
		out, err := runScript(root, nil, "hack/realnode-images.sh")
		if err != nil {
			return nil, err
		}
		apps = out
	}
	own := os.Getenv("KENNEL_PROJECT_IMAGES")
	if own == "" {
		dir, err := os.MkdirTemp("", "kennel-images-")
		if err != nil {
			return nil, err
		}
		logf("e2e: building the controller and peer-finder images (hack/images.sh, linux/amd64)")
		env := []string{"KENNEL_PLATFORMS=linux/amd64", "KENNEL_IMAGES_OUT=" + dir, "KENNEL_IMAGES_BIN=" + filepath.Join(dir, "bin"), "KENNEL_VERSION=e2e"}
		if _, err := runScript(root, env, "hack/images.sh", "controller", "peer-finder"); err != nil {
			return nil, err
		}
		own = dir
		builtImages = dir
	}
	return &plane.RealNodeOptions{
		BinDir:     nodeBin,
		PauseImage: filepath.Join(apps, "pause"),
		// test/plane's real-node test may hold the machine's node.
		LockWait: 20 * time.Minute,
		Images: map[string]string{
			ToolboxImage:    filepath.Join(apps, "toolbox"),
			NginxImage:      filepath.Join(apps, "nginx"),
			ZooKeeperImage:  filepath.Join(apps, "zookeeper"),
			ConsulImage:     filepath.Join(apps, "consul"),
			ControllerImage: filepath.Join(own, "controller"),
			PeerFinderImage: filepath.Join(own, "peer-finder"),
		},
	}, nil
}

// builtImages is the temporary directory of the images realNodeOptions
// built; removed once the plane has imported them.
var builtImages string

// removeBuiltImages removes builtImages, if any.
func removeBuiltImages() {
	if builtImages != "" {
		_ = os.RemoveAll(builtImages)
		builtImages = ""
	}
}

// runScript runs a script of the repository and returns its stdout's last
// line; stderr passes through.
func runScript(root string, env []string, script string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(root, script), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w", script, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1], nil
}

// cordonSimulatedNodes marks the kwok nodes unschedulable so that the
// lane's pods all run on the real node.
func cordonSimulatedNodes(ctx context.Context, p *plane.Plane) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	nodes, err := p.Client().CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, n := range nodes.Items {
		if n.Name == plane.RealNodeName {
			continue
		}
		patch := []byte(`{"spec":{"unschedulable":true}}`)
		if _, err := p.Client().CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("cordon simulated node %s: %w", n.Name, err)
		}
	}
	return nil
}
