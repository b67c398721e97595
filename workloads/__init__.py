"""Kubernetes workloads that run on the platform (Triton services, training jobs, NCCL tests)."""
