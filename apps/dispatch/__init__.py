"""The port to compute: Paddock's only way to run work on Ray, Kubernetes or locally."""
