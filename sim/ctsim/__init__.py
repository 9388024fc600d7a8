"""ctsim: a simulated Kubernetes cluster made of network namespaces on one host
(see sim/README.md). Standard library only."""
