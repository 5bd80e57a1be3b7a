"""Retention: delete what the rules of tocsin.vault.retention say is old enough.

An entry point like the worker and the command line: it reads the models of every app
it purges, so nothing below it has to know them.
"""
