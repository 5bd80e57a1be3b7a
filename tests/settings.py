"""Settings for the test suite: the real settings, on a throwaway data folder.

The environment is set here, before tocsin.settings reads it, so tests never touch a
real install's keys or database, and concurrent runs never share a SQLite file.
"""

import os
import tempfile

os.environ.setdefault("TOCSIN_DATA_DIR", tempfile.mkdtemp(prefix="tocsin-test-"))
os.environ.setdefault("TOCSIN_SITE_URL", "http://testserver")
os.environ["TOCSIN_ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
os.environ.pop("TOCSIN_DEMO", None)
# The local peers listen on loopback, which Tocsin reaches only where the operator says
# so: the push service peer (tests/peers/push_service.py) on 127.0.0.1, the committee
# channels' webhook peer (tests/peers/webhook.py) as localhost. Tests of the shipped
# push list set PUSH_HOSTS back to it.
os.environ["TOCSIN_PUSH_HOSTS"] = "127.0.0.1"
os.environ["TOCSIN_APPRISE_PRIVATE_HOSTS"] = "localhost,127.0.0.1"
# Most tests are about authorization and flows, not the second factor; tests of the
# second factor turn it on (settings.STAFF_MFA) where they need it.
os.environ.setdefault("TOCSIN_STAFF_MFA", "0")
# The vault's keyring opens with a passphrase from a file outside the data folder, so no
# test (nor a worker process a test starts, which inherits this environment) ever waits
# at a prompt. The cheapest Argon2id limits keep unlocking quick.
if "TOCSIN_VAULT_PASSPHRASE_FILE" not in os.environ:
    _passphrase = os.path.join(tempfile.mkdtemp(prefix="tocsin-test-passphrase-"), "passphrase")
    with open(_passphrase, "w") as f:
        f.write("test passphrase, known to every test\n")
    os.environ["TOCSIN_VAULT_PASSPHRASE_FILE"] = _passphrase
os.environ.setdefault("TOCSIN_VAULT_KDF", "interactive")
# The legal team's key pair (tocsin.legal.keys), for this run only: never in the data folder.
if "TOCSIN_LEGAL_PUBLIC_KEY" not in os.environ:
    from nacl.encoding import Base64Encoder
    from nacl.public import PrivateKey

    _legal = PrivateKey.generate()
    os.environ["TOCSIN_LEGAL_PUBLIC_KEY"] = _legal.public_key.encode(Base64Encoder).decode()
    os.environ["TOCSIN_LEGAL_PRIVATE_KEY"] = _legal.encode(Base64Encoder).decode()

from tocsin.settings import *  # noqa: E402, F403

# A family plan's PIN (tocsin.family) is hashed with Django's password hasher, PBKDF2 with
# 1.5 million rounds: about half a second for each PIN set or checked, and the panic tests
# set and check many. Tests hash with a fast one; the real one is checked where a test is
# about the hashing (tests/test_family_plan.py::test_the_pin_is_hashed_and_must_be_typed_twice).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
