"""The daily email digest of newly public incidents: a sign-up page with double opt-in,
sealed addresses, and the worker's daily issue (tocsin.digest.service)."""
