package plane

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
)

// AuditArgs writes an audit policy under dir and returns the API server
// flags (Options.ExtraArgs["kube-apiserver"]) that log by it to dir/audit.log, blocking
// and unrotated, and that path. The chaos harness and the benchmarks read
// the log with an AuditTail.
func AuditArgs(dir, policy string) ([]string, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	policyPath := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policyPath, []byte(policy), 0o644); err != nil {
		return nil, "", err
	}
	log := filepath.Join(dir, "audit.log")
	return []string{
		"--audit-policy-file=" + policyPath,
		"--audit-log-path=" + log,
		"--audit-log-mode=blocking",
		"--audit-log-maxsize=0",
	}, log, nil
}

// AuditTail follows an audit log: each Next returns the whole lines
// appended since the last one (a line still being written waits for the
// next call).
type AuditTail struct {
	Path    string
	offset  int64
	partial []byte
}

// Next returns the new whole lines; none while the log does not exist.
func (a *AuditTail) Next() ([]byte, error) {
	f, err := os.Open(a.Path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(a.offset, io.SeekStart); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	a.offset += int64(len(data))
	data = append(a.partial, data...)
	end := bytes.LastIndexByte(data, '\n') + 1
	a.partial = append([]byte(nil), data[end:]...)
	return data[:end], nil
}
