// Command pause is the pod sandbox ("infra") container of the node test bed: it holds the pod's namespaces and
// does nothing else. The test bed has no image registry, so tests/node/build.sh builds this static binary and
// node.sh imports it into containerd under the CRI plugin's sandbox_image name.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// As PID 1 the kernel delivers no default signal handling: exit cleanly on the signals the runtime sends.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
}
