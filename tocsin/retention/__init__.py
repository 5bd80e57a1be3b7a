"""The life of stored data: delete what the rules of tocsin.vault.retention say is old
enough (``purge``), and re-seal every sealed column when the vault's key changes
(``tocsin manage vault_keys``).

An entry point like the worker and the command line: it reads the models of every app
that holds such data, so nothing below it has to know them.
"""
