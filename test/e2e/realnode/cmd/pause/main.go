// Command pause is the real node's sandbox image (containerd's
// sandbox_image): it holds a pod's namespaces and waits for SIGTERM or
// SIGINT. Built static by hack/realnode-images.sh; nothing is pulled.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
