"""Inbound: what providers and people send back to Tocsin.

An entry point like the URLs and the worker. Each channel's webhook (or poller) checks its
provider's signature and hands the message to the keyword router (``inbound``), which
calls down into the apps: mobilize for "on my way", incidents for a verifier's answer,
intake for a report, members for STOP and START. Transports below only send.
"""
