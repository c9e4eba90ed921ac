// Command pause is the pod sandbox's process for the local cluster (scripts/cluster.sh), which cannot pull
// registry.k8s.io/pause: it holds the pod's namespaces open and does nothing until it is told to stop.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
