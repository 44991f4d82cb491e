"""Benchmark of the orchestrator against moto behind a latency layer (see README, "Benchmark")."""
