"""The vault's keys in this process: where they come from, and the lock every worker obeys.

A deployment gives each process its keys in TOCSIN_* variables. The embedded setup (no
TOCSIN_VAULT_PUBLIC_KEY or TOCSIN_VAULT_PRIVATE_KEY) keeps them in the data folder's
keyring (tocsin.vault.wrapping), wrapped with a passphrase or split into shares, and holds
them unwrapped in memory only: unlocked when `tocsin serve`, `worker` or `demo` starts (a
passphrase typed at the terminal or read from TOCSIN_VAULT_PASSPHRASE_FILE, or k shares),
lazily from the passphrase file in other processes, or handed over by
`tocsin manage vault unlock`.

A lock (tocsin.vault.locking) drops the private key from every process that holds it;
keys handed over by `tocsin manage vault unlock` come back through the same module.

Web processes keep the blind-index and TOTP keys through a lock (logins go on); only the
private key, which opens every contact address, is dropped. Python cannot overwrite the
memory a dropped key occupied: the lock removes every reference to it, and the memory is
reused in time; stopping the process is the only certain way.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from django.conf import settings
from nacl.encoding import Base64Encoder
from nacl.public import PrivateKey

from tocsin.lib.secrets import data_dir_secret
from tocsin.vault import wrapping
from tocsin.vault.errors import BadShare, VaultError, VaultLocked, WrongKey
from tocsin.vault.wrapping import Keyring, PassphraseLock, Secrets, Share, SharesLock

logger = logging.getLogger(__name__)

# A prompt that returns what the person typed without echoing it (getpass).
Ask = Callable[[str], str]
Say = Callable[[str], None]

# Printed by `tocsin demo` and written in the README: it protects nothing.
DEMO_PASSPHRASE = "tocsin-demo"
MIN_PASSPHRASE = 8
# Tries at a terminal before giving up.
TRIES = 3

LOCKED = (
    "the vault is locked: run `tocsin manage vault unlock`, or restart the worker with the "
    "passphrase"
)
NO_PASSPHRASE = (
    "the vault needs its passphrase: start `tocsin serve --with-worker` or `tocsin worker` "
    "on a terminal, or set TOCSIN_VAULT_PASSPHRASE_FILE"
)
WEB_ONLY = "this process holds only the vault's public key"


@dataclass
class _State:
    lock: threading.RLock = field(default_factory=threading.RLock)
    # The embedded keyring's secrets (private_key "" once dropped), or None.
    secrets: Secrets | None = None
    parsed: tuple[str, PrivateKey] | None = None
    public: str = ""
    # The lock generation this process unlocked in (None: not read yet).
    generation: int | None = None
    # A lock dropped the key: nothing is unlocked again without an unlock or a restart.
    locked_out: bool = False
    # `tocsin serve` without a worker: it dropped the private key at start.
    web_only: bool = False
    # A worker: while locked, it waits for `tocsin manage vault unlock`.
    worker: bool = False
    # The terminal prompt `tocsin manage` installs (None: never ask).
    ask: Ask | None = None
    # While waiting for a handover (tocsin.vault.locking): the row and its key pair.
    waiting: tuple[str, PrivateKey] | None = None
    seen_at: float = 0.0


def state() -> _State:
    """Return this process's key state (for tocsin.vault.locking)."""
    return _STATE


_STATE = _State()


def embedded() -> bool:
    """Return whether the keys live in the data folder's keyring (no key in the env)."""
    return not settings.VAULT_PUBLIC_KEY and not settings.VAULT_PRIVATE_KEY


def set_prompt(ask: Ask | None) -> None:
    """Let this process ask at the terminal when it first needs the keyring."""
    _STATE.ask = ask


# --- the keys, for tocsin.vault --------------------------------------------------------------


def private_key() -> PrivateKey:
    """Return the private key; raises VaultLocked, or VaultError in a web process."""
    s = _STATE
    with s.lock:
        if s.web_only or (not embedded() and not settings.VAULT_PRIVATE_KEY):
            raise VaultError(WEB_ONLY)
        if embedded():
            raw = _secrets(private=True).private_key
        elif s.locked_out:
            raise VaultLocked(LOCKED)
        else:
            raw = settings.VAULT_PRIVATE_KEY
        if s.parsed is None or s.parsed[0] != raw:
            s.parsed = (raw, PrivateKey(raw.encode(), encoder=Base64Encoder))
        return s.parsed[1]


def public_key() -> str:
    """Return the public key (base64). In the embedded setup it is read from its plain
    file: sealing needs no passphrase, except on the very first start."""
    if settings.VAULT_PUBLIC_KEY:
        return settings.VAULT_PUBLIC_KEY
    if settings.VAULT_PRIVATE_KEY:
        key = PrivateKey(settings.VAULT_PRIVATE_KEY.encode(), encoder=Base64Encoder)
        return key.public_key.encode(Base64Encoder).decode()
    s = _STATE
    with s.lock:
        if not s.public:
            s.public = wrapping.read_public_key(settings.DATA_DIR)
        if not s.public:
            s.public = _secrets(private=False).public_key
        return s.public


def blind_index_key() -> str:
    """Return the blind-index key: TOCSIN_BLIND_INDEX_KEY, or the keyring's.

    A deployment that sets its vault keys in the env but not this one keeps it in plain in
    the data folder, as before (docs/operations.md says why that is worse).
    """
    if settings.BLIND_INDEX_KEY:
        return settings.BLIND_INDEX_KEY
    if not embedded():
        return data_dir_secret(settings.DATA_DIR, wrapping.LEGACY_BLIND_INDEX_KEY)
    with _STATE.lock:
        return _secrets(private=False).blind_index_key


def totp_key() -> bytes | None:
    """Return the Fernet key of members' TOTP seeds: from TOCSIN_TOTP_KEY or the keyring;
    None in a deployment that sets neither (seeds then use the key older versions derived
    from the Django secret key)."""
    raw = settings.TOTP_KEY
    if not raw and embedded():
        with _STATE.lock:
            raw = _secrets(private=False).totp_key
    if not raw:
        return None
    return base64.urlsafe_b64encode(hashlib.sha256(b"tocsin-totp-key\0" + raw.encode()).digest())


def current_secrets() -> Secrets:
    """Return every secret this process holds (to hand over or to wrap); raises VaultLocked."""
    if embedded():
        with _STATE.lock:
            return _secrets(private=True)
    private = private_key().encode(Base64Encoder).decode()
    return Secrets(private, blind_index_key(), settings.TOTP_KEY)


def _secrets(*, private: bool) -> Secrets:
    s = _STATE
    if s.secrets is not None and (s.secrets.private_key or not private):
        return s.secrets
    if s.locked_out:
        raise VaultLocked(LOCKED)
    if s.secrets is not None and s.web_only:
        raise VaultError(WEB_ONLY)
    hold(_unlock_automatically())
    assert s.secrets is not None
    return s.secrets


def hold(secrets: Secrets, *, generation: int | None = None) -> None:
    """Hold ``secrets`` (a web process: all but the private key), unlocked in lock
    generation ``generation``."""
    s = _STATE
    s.secrets = replace(secrets, private_key="") if s.web_only else secrets
    s.public = secrets.public_key
    s.parsed = None
    s.locked_out = False
    s.generation = generation


def resume(*, generation: int) -> None:
    """Take the private key from the environment again (a deployment's worker)."""
    _STATE.locked_out, _STATE.generation, _STATE.parsed = False, generation, None


def drop() -> None:
    """Drop the private key (a lock); keep what web pages need."""
    s = _STATE
    s.locked_out = True
    s.parsed = None
    if s.secrets is not None:
        s.secrets = replace(s.secrets, private_key="")


# --- unlocking --------------------------------------------------------------------------------


def passphrase_from_file() -> str:
    """Return the passphrase in TOCSIN_VAULT_PASSPHRASE_FILE (its first line), or ""."""
    path = settings.VAULT_PASSPHRASE_FILE
    if not path:
        return ""
    try:
        with open(path) as f:
            return f.readline().rstrip("\r\n")
    except OSError as e:
        raise VaultError(f"TOCSIN_VAULT_PASSPHRASE_FILE: cannot read {path}: {e}") from None


def keyring() -> Keyring | None:
    return wrapping.read(settings.DATA_DIR)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _unlock_automatically() -> Secrets:
    """Open (or, on the first start, make) the keyring from the passphrase file, or ask."""
    s = _STATE
    ring = keyring()
    passphrase = passphrase_from_file()
    if ring is None:
        if not passphrase and s.ask is not None:
            passphrase = ask_new_passphrase(s.ask, _say)
        if not passphrase:
            raise VaultLocked(NO_PASSPHRASE)
        return create(passphrase)
    if isinstance(ring.lock, PassphraseLock):
        if passphrase:
            return open_keyring(ring, passphrase=passphrase)[0]
        if s.ask is not None:
            return ask_passphrase(ring, s.ask, _say)[0]
    elif s.ask is not None:
        return ask_shares(ring, s.ask, _say)[0]
    raise VaultLocked(NO_PASSPHRASE)


def create(passphrase: str, *, demo: bool = False) -> Secrets:
    """Make the keyring on the first start and return its secrets: a new key pair, or the
    keys an older version kept in plain, wrapped with ``passphrase``. The plain files are
    then overwritten and removed."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise VaultError(f"the vault's passphrase needs at least {MIN_PASSPHRASE} characters")
    folder = settings.DATA_DIR
    private, blind = wrapping.legacy_secrets(folder)
    secrets = Secrets.generate(private_key=private, blind_index_key=blind)
    kek = wrapping.new_kek()
    lock = PassphraseLock.make(kek, passphrase, kdf=settings.VAULT_KDF)
    if not wrapping.write(folder, Keyring.seal(secrets, kek, lock, demo=demo), replace=False):
        # Another process made it first: use theirs.
        ring = keyring()
        assert ring is not None
        return open_keyring(ring, passphrase=passphrase)[0]
    _shred_legacy(secrets)
    return secrets


def open_keyring(
    ring: Keyring, *, passphrase: str = "", shares: list[Share] | None = None
) -> tuple[Secrets, bytes]:
    """Return the keyring's secrets and its KEK; raises WrongKey or BadShare."""
    if isinstance(ring.lock, PassphraseLock):
        if shares:
            raise WrongKey("this vault opens with its passphrase, not with shares")
        kek = ring.lock.open(passphrase)
    else:
        if passphrase:
            raise WrongKey("this vault is split: it opens with shares, not a passphrase")
        kek = ring.lock.open(shares or [])
    secrets = ring.open(kek)
    _shred_legacy(secrets)
    return secrets, kek


def _shred_legacy(secrets: Secrets) -> None:
    """Remove the plain key files of an older version once the keyring holds them."""
    folder = settings.DATA_DIR
    private, blind = wrapping.legacy_secrets(folder)
    for name, plain, kept in (
        (wrapping.LEGACY_PRIVATE_KEY, private, secrets.private_key),
        (wrapping.LEGACY_BLIND_INDEX_KEY, blind, secrets.blind_index_key),
    ):
        if not plain:
            continue
        if plain == kept:
            wrapping.shred(folder / name)
            logger.warning("%s was moved into the vault keyring and removed", name)
        else:
            logger.warning("%s in the data folder is not the keyring's: remove it by hand", name)


def ask_new_passphrase(ask: Ask, say: Say) -> str:
    """Ask twice for a new passphrase; return it, or "" after too many tries."""
    for _ in range(TRIES):
        first = ask("New vault passphrase (nothing in the data folder opens without it): ")
        if len(first) < MIN_PASSPHRASE:
            say(f"At least {MIN_PASSPHRASE} characters, please: a few words are best.")
            continue
        if ask("The same passphrase again: ") == first:
            return first
        say("The two do not match.")
    return ""


def ask_passphrase(ring: Keyring, ask: Ask, say: Say) -> tuple[Secrets, bytes]:
    """Ask for the passphrase until it opens ``ring``; raises WrongKey after too many tries."""
    for attempt in range(TRIES):
        try:
            return open_keyring(ring, passphrase=ask("Vault passphrase: "))
        except WrongKey:
            if attempt + 1 == TRIES:
                raise
            say("That passphrase does not open the vault.")
    raise AssertionError("unreachable")


def ask_shares(ring: Keyring, ask: Ask, say: Say) -> tuple[Secrets, bytes]:
    """Ask for shares one by one until ``ring``'s threshold; raises BadShare or WrongKey."""
    assert isinstance(ring.lock, SharesLock)
    needed = ring.lock.threshold
    say(f"The vault is split: {needed} of its {ring.lock.count} shares open it.")
    shares: list[Share] = []
    while len(shares) < needed:
        for attempt in range(TRIES):
            try:
                share = Share.parse(ask(f"Share {len(shares) + 1} of {needed}: "))
                if share.set != ring.lock.set:
                    raise BadShare(f"this share belongs to another split ({share.set})")
                if any(s.index == share.index for s in shares):
                    raise BadShare(f"share {share.index} was given already")
                shares.append(share)
                break
            except BadShare as e:
                if attempt + 1 == TRIES:
                    raise
                say(f"{e}. Try again.")
    return open_keyring(ring, shares=shares)


def start(
    *,
    worker: bool,
    ask: Ask | None,
    say: Say,
    passphrase: str = "",
    demo: bool = False,
    generation: int | None = None,
) -> None:
    """Unlock the keys as `tocsin serve`, `worker` or `demo` starts (``generation``: the
    lock generation now, see tocsin.vault.locking).

    The passphrase comes from ``passphrase`` (the demo's), TOCSIN_VAULT_PASSPHRASE_FILE, or
    ``ask`` (a terminal; None without one). A worker that gets none starts locked and waits
    for `tocsin manage vault unlock`; a web process cannot (it would refuse every login)
    and raises VaultLocked. A web process keeps no private key.
    """
    s = _STATE
    with s.lock:
        s.worker = worker
        s.ask = None
        if not embedded():
            return
        passphrase = passphrase or passphrase_from_file()
        ring = keyring()
        legacy = any(wrapping.legacy_secrets(settings.DATA_DIR))
        if ring is None:
            if not passphrase and ask is not None:
                passphrase = ask_new_passphrase(ask, say)
            if not passphrase:
                raise VaultLocked(NO_PASSPHRASE)
            secrets = create(passphrase, demo=demo)
            if not demo:
                say("The vault's keys are wrapped with the passphrase: keep it safe.")
            if legacy:
                say(
                    "The plain key files of an older version were moved into vault_keyring "
                    "and removed. If this disk could have been copied before, rotate the key "
                    "pair too: tocsin manage vault_keys rotate"
                )
        else:
            try:
                if isinstance(ring.lock, PassphraseLock) and passphrase:
                    secrets = open_keyring(ring, passphrase=passphrase)[0]
                elif ask is not None:
                    if isinstance(ring.lock, PassphraseLock):
                        secrets = ask_passphrase(ring, ask, say)[0]
                    else:
                        secrets = ask_shares(ring, ask, say)[0]
                elif worker:
                    drop()
                    say(
                        f"Vault locked: waiting for `tocsin manage vault unlock` ({NO_PASSPHRASE})."
                    )
                    return
                else:
                    raise VaultLocked(NO_PASSPHRASE)
            except WrongKey:
                if demo and passphrase == DEMO_PASSPHRASE:
                    raise VaultError(
                        "this data folder's vault has its own passphrase, not the demo's: set "
                        "TOCSIN_VAULT_PASSPHRASE_FILE, or give the demo another TOCSIN_DATA_DIR"
                    ) from None
                raise
            if ring.demo and not demo:
                say(
                    "Warning: this vault was made by `tocsin demo`, whose passphrase is public. "
                    "Set your own now: tocsin manage vault passphrase"
                )
        s.web_only = not worker
        hold(secrets, generation=generation)


def forget() -> None:
    """Drop every key this process holds and forget how it got them (a stop, or a test)."""
    global _STATE
    with _STATE.lock:
        _STATE = _State()


def reset() -> None:
    """Forget the public key read from the data folder (a rotation changed it)."""
    with _STATE.lock:
        _STATE.public = ""


def holds_private() -> bool:
    """Return whether this process holds the private key now (without unlocking)."""
    s = _STATE
    if s.locked_out:
        return False
    if embedded():
        return s.secrets is not None and bool(s.secrets.private_key)
    return bool(settings.VAULT_PRIVATE_KEY)


def can_open() -> bool:
    """Return whether sealed values open in this process now (unlocking on first use)."""
    try:
        private_key()
    except VaultLocked:
        return False
    except VaultError as e:
        if str(e) != WEB_ONLY:
            logger.error("the vault cannot be unlocked: %s", e)
        return False
    return True


def env_private_key() -> str:
    return settings.VAULT_PRIVATE_KEY


def serve_as_worker() -> None:
    """Mark this process a worker: while locked, it waits for keys handed over."""
    _STATE.worker = True


def terminal() -> Ask | None:
    """Return a prompt that reads from this terminal without echo, or None without one."""
    return getpass.getpass if sys.stdin.isatty() else None


def open_for_change(
    ring: Keyring, *, ask: Ask | None, say: Say, share_files: list[str]
) -> tuple[Secrets, bytes]:
    """Open ``ring`` for a command that changes it (a rotation, a split, a new passphrase):
    with the passphrase file or the passphrase asked for, or with shares from
    ``share_files`` or asked for one by one. Raises VaultLocked with no way to ask."""
    if isinstance(ring.lock, PassphraseLock):
        passphrase = passphrase_from_file()
        if passphrase:
            return open_keyring(ring, passphrase=passphrase)
        if ask is not None:
            return ask_passphrase(ring, ask, say)
        raise VaultLocked("the vault's passphrase is needed: set TOCSIN_VAULT_PASSPHRASE_FILE")
    if share_files:
        return open_keyring(ring, shares=[Share.parse(first_line(f)) for f in share_files])
    if ask is not None:
        return ask_shares(ring, ask, say)
    raise VaultLocked(f"{ring.lock.threshold} shares are needed: give them with --share-file")


def first_line(path: str) -> str:
    """Return the first line of the file ``path`` that is not empty (a share, a passphrase)."""
    try:
        with open(path) as f:
            return next((line.rstrip("\r\n") for line in f if line.strip()), "")
    except OSError as e:
        raise VaultError(f"cannot read {path}: {e}") from None
