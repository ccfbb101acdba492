"""Sealing secret parameters so Temporal never holds them in clear text."""

from __future__ import annotations

import os

import pytest
from cryptography.fernet import Fernet

from attune.expressions import EvalContext, ExpressionError, render
from attune.secrets import (
    REDACTED,
    SecretError,
    is_sealed,
    key_source,
    load_key,
    mask,
    mask_cut,
    redact_sealed,
    seal_parameters,
    unseal,
)

KEY = Fernet.generate_key()


def test_seal_only_secret_names_and_unseal_restores_any_json_value():
    sealed = seal_parameters({"token": {"a": [1, "plain-secret"]}, "user": "ada"}, {"token"}, KEY)
    assert sealed["user"] == "ada" and is_sealed(sealed["token"])
    assert "plain-secret" not in str(sealed["token"])
    nested = {"input": [sealed["token"]], "other": 1}
    assert unseal(nested, KEY) == {"input": [{"a": [1, "plain-secret"]}], "other": 1}


def test_unseal_reports_each_secret_it_opened():
    sealed = seal_parameters({"token": "tok-1", "pair": ["user", "pass-2"], "n": 5}, {"token", "pair"}, KEY)
    found: list = []
    unseal({"a": sealed["token"], "b": [sealed["pair"]], "n": sealed["n"]}, KEY, found=found)
    assert found == ["tok-1", ["user", "pass-2"]]


def test_mask_replaces_secrets_in_every_string_longest_first():
    out = {"line": "token=abcd-efgh, short=abc", "nested": [{"abcd-efgh": "x abcd y"}], "n": 1234,
           "m": 123, "ok": True}
    # A number in parsed output that is a number secret is masked too (it was kept, QA 53);
    # under 4 digits, and booleans, stay as they are.
    assert mask(out, ["abcd", "abcd-efgh", "abc", 1234, 123, True]) == {
        "line": f"token={REDACTED}, short=abc", "nested": [{REDACTED: f"x {REDACTED} y"}],
        "n": REDACTED, "m": 123, "ok": True}
    assert mask("a user pass-2 b", [["user", "pass-2"]]) == f"a {REDACTED} {REDACTED} b"
    assert mask("nothing to hide", []) == "nothing to hide"
    # a number secret (a PIN) printed as text; under 4 digits (and booleans) would hit ordinary output
    assert mask("pin 98765432, n 123, ok True", [98765432, 123, True]) == f"pin {REDACTED}, n 123, ok True"


def test_a_secret_cut_at_a_streams_cap_is_masked_where_it_was_cut():
    assert mask_cut("AAAA" + "s3cret-val"[:6], ["s3cret-val"], at_start=False) == "AAAA" + REDACTED
    assert mask_cut("s3cret-val"[-5:] + "BBBB", ["s3cret-val"], at_start=True) == REDACTED + "BBBB"
    assert mask_cut("AAAA" + "s3c", ["s3cret-val"], at_start=False) == "AAAAs3c"  # under 4 kept: left


def test_wrong_key_gives_a_clear_error_naming_where():
    sealed = seal_parameters({"token": "t"}, {"token"}, KEY)
    with pytest.raises(SecretError, match=r"parameters\.token.*ATTUNE_SECRET_KEY differs"):
        unseal({"token": sealed["token"]}, Fernet.generate_key())


def test_redact_sealed_anywhere():
    sealed = seal_parameters({"token": "t"}, {"token"}, KEY)["token"]
    assert redact_sealed({"a": [sealed], "b": 2}) == {"a": [REDACTED], "b": 2}


def test_expression_passes_sealed_whole_but_refuses_splicing():
    sealed = seal_parameters({"token": "t"}, {"token"}, KEY)["token"]
    ctx = EvalContext(parameters={"token": sealed})
    assert render("{{ parameters.token }}", ctx) == sealed
    with pytest.raises(ExpressionError, match="can only be passed whole to a task input"):
        render("Bearer {{ parameters.token }}", ctx)


def test_key_from_env_wins_else_file_is_created_once(tmp_path, monkeypatch):
    monkeypatch.delenv("ATTUNE_SECRET_KEY", raising=False)
    first = load_key(str(tmp_path))
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    assert load_key(str(tmp_path)) == first
    monkeypatch.setenv("ATTUNE_SECRET_KEY", KEY.decode())
    assert load_key(str(tmp_path)) == KEY


def test_a_key_file_replaced_is_read_again(tmp_path, monkeypatch):
    """Workers keep the key they read (a task with secrets reads it); a rotated key file (a new
    file put in place, or the same file rewritten) is the one the next task uses."""
    monkeypatch.delenv("ATTUNE_SECRET_KEY", raising=False)
    first = load_key(str(tmp_path))
    rotated = Fernet.generate_key()
    staged = tmp_path / "secret.key.new"
    staged.write_bytes(rotated + b"\n")
    staged.replace(tmp_path / "secret.key")
    assert load_key(str(tmp_path)) == rotated != first
    again = Fernet.generate_key()
    (tmp_path / "secret.key").write_bytes(again)  # same inode, same size, rewritten in place
    os.utime(tmp_path / "secret.key", ns=(1, 1))  # a clock's coarse mtime must not hide it
    assert load_key(str(tmp_path)) == again


def test_a_key_made_on_first_need_is_said_in_the_log_unless_the_stack_makes_it(tmp_path, monkeypatch, caplog):
    """A standalone worker with neither ATTUNE_SECRET_KEY nor its stack's state dir made a key
    of its own silently, then failed every secret it was given."""
    monkeypatch.delenv("ATTUNE_SECRET_KEY", raising=False)
    with caplog.at_level("WARNING", logger="attune.secrets"):
        load_key(str(tmp_path / "worker"))
        load_key(str(tmp_path / "worker"))  # once: when it is made
        load_key(str(tmp_path / "stack"), quiet=True)  # `attune up` making its stack's key
    [made] = caplog.messages
    assert f"{(tmp_path / 'worker' / 'secret.key')} did not exist: made a new one there" in made
    assert key_source(str(tmp_path / "worker")) == str(tmp_path / "worker" / "secret.key")
    monkeypatch.setenv("ATTUNE_SECRET_KEY", KEY.decode())
    assert key_source(str(tmp_path / "worker")) == "ATTUNE_SECRET_KEY"
