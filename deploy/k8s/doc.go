// Package k8s holds the Kubernetes manifests of the daemon (a Deployment,
// PodDisruptionBudget and KEDA ScaledObject per role, the ConfigMap and the
// Secret) and the test that keeps them consistent with the daemon's stage
// registry, configuration and ops endpoints. It has no Go code of its own.
package k8s
