"""Family preparedness and the panic button (issue 18): a member's family plan, emergency
contacts (sealed), the PIN, triggers (button, SMS, hotline, missed check-in) and the
messages that tell the contacts. Legal cases live in tocsin.legal, which listens to
tocsin.family.signals; this app never imports it."""
