"""The read-only public JSON API (/api/v1/) and its OpenAPI document: an entry point, as it
reads both the public incidents (tocsin.public) and the public mobilizations (tocsin.mobilize)."""
