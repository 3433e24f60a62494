"""The service's HTTP side: health, Prometheus metrics (and, later, the operator console)."""
