"""The vault's new keys, before the database: each sealing has its own key, handed over
once to the write that stores it, forgotten if never stored; the keys a process keeps in
memory are bounded (a key per case would otherwise grow it without end)."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from services.infra import personal_data
from services.infra.personal_data import PersonalDataVault, VaultUnavailable


async def test_each_sealing_has_a_key_handed_over_once() -> None:
    vault = PersonalDataVault(os.urandom(64))
    subject = vault.subject_of("3214010101800001", "case-1")
    first, second = await vault.seal_many(subject, ["nama", "alamat"])
    assert first["kid"] == second["kid"], "one sealing, one key"
    other = await vault.seal(subject, "lain")
    assert other["kid"] != first["kid"], "another sealing of the same subject: another key"
    assert vault.open(first) == "nama" and vault.open(other) == "lain"

    (row,) = vault.take_new_keys([first, second])
    assert (str(row.key_id), row.subject_id) == (first["kid"], subject)
    assert len(row.wrapped) == 12 + 32 + 16, "nonce + key + tag: wrapped, never raw"
    assert vault.take_new_keys([first]) == []
    assert [str(k.key_id) for k in vault.take_new_keys([other, {"plain": 1}])] == [
        other["kid"]]


async def test_a_key_never_stored_is_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    vault = PersonalDataVault(os.urandom(64))
    clock = [1000.0]
    monkeypatch.setattr(personal_data.time, "monotonic", lambda: clock[0])
    abandoned = await vault.seal("case:a", "x")  # the request failed after sealing
    clock[0] += personal_data.NEW_KEY_TTL_SECONDS + 1
    kept = await vault.seal("case:b", "y")  # a later sealing clears what was abandoned
    taken = vault.take_new_keys([abandoned, kept])
    assert [str(k.key_id) for k in taken] == [kept["kid"]]


async def test_the_keys_in_memory_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(personal_data, "MAX_CACHED_KEYS", 3)
    vault = PersonalDataVault(os.urandom(64))
    envelopes = [await vault.seal(f"case:{i}", i) for i in range(5)]
    assert [vault.open(e) for e in envelopes[2:]] == [2, 3, 4]
    with pytest.raises(VaultUnavailable):  # dropped: a read must prefetch it again
        vault.open(envelopes[0])


def test_processes_starting_together_share_one_whole_vault_secret(tmp_path: Path) -> None:
    # `ptsp up` starts its workers and the pipeline at once on a fresh data dir: each
    # makes the secret if it is missing. Every one must end with the same 64 bytes.
    path = tmp_path / "keys" / "personal-data-vault.key"
    with multiprocessing.get_context("fork").Pool(8) as pool:
        secrets = pool.map(_vault_secret, [str(path)] * 32)
    assert len(set(secrets)) == 1 and len(secrets[0]) == 64
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


def _vault_secret(path: str) -> bytes:
    PersonalDataVault.load_or_create(Path(path))  # refuses a secret shorter than 64 bytes
    return Path(path).read_bytes()
