// Package test installs the connected-bbq chart with the helm binary into a real kube-apiserver and etcd
// (envtest) and checks what the API server accepted. It holds tests only.
package test
