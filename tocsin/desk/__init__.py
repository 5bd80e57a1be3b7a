"""The dispatcher's desk: the live queue, an incident's page and its actions, the tools
(sending a verifier, alerting more, replies to reporters, the hotline form) and the
deliveries that did not arrive.

An entry point like the URLs: the desk shows and acts on what several apps hold (reports,
incidents, alerts, the headcount of responders), so it sits above all of them.
"""
