"""Federation between Tocsin networks: partners exchange confirmed incidents as CAP 1.2
alerts, signed with Ed25519 HTTP Message Signatures (RFC 9421).

- ``models``: the partner registry (operators manage it with `tocsin manage partners`),
  the alerts received (against replays) and sent (Alert, Update, Cancel);
- ``keys``: our own key pair (TOCSIN_FEDERATION_KEY), served at /federation/key;
- ``signing``: signing a request and verifying one, through http-message-signatures;
- ``outgoing``: what each partner is due (the public view of incidents whose area touches
  theirs, from tocsin.public.incidents.published) and the task that POSTs it;
- ``inbox``: /federation/inbox, where a partner's alert lands on our desk as a report.
"""
