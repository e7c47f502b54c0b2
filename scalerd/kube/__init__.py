"""The Kubernetes edge of the daemon: client configuration, the Deployment cache, the one write site, the Lease."""
