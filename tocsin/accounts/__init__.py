"""A member's own pages: logging in, /me/ (areas, channels, duty, alerts), second
factors, their data and deleting their account.

An entry point like the URLs: these pages show what several apps hold about one member
(their committees, their alerts, their shifts), so they sit above all of them.
"""
