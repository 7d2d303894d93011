"""Deployment artefacts for `tunesmith serve`: a Docker build context with docker compose
(Prometheus + Grafana), Kubernetes manifests, and the Grafana dashboard both ship."""

from tunesmith.deploy.docker import DockerOptions, write_docker
from tunesmith.deploy.k8s import K8sOptions, write_k8s

__all__ = ["DockerOptions", "K8sOptions", "write_docker", "write_k8s"]
