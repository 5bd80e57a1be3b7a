"""Running Tocsin for real: health and readiness, metrics, backups.

Everything here is for the operator and their tools (a load balancer, Prometheus, a
backup timer): counts, ages and states, never a person, a place finer than a committee or
an address.
"""
