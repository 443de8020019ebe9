"""Claim ids and claim names: unique, ordered, parseable and short enough."""

from __future__ import annotations

import os
import time

import pytest

from agent.intake.folder.names import claim_name, new_claim_id, parse_claim_name


def test_new_claim_id_is_unique_sortable_and_safe() -> None:
    """Claim ids are unique, ordered by creation time and made of [0-9a-f-] only."""
    ids = [new_claim_id() for _ in range(1000)]
    assert len(set(ids)) == len(ids)
    assert all(set(i) <= set("0123456789abcdef-") for i in ids)
    first = new_claim_id()
    time.sleep(0.001)
    assert new_claim_id() > first


@pytest.mark.parametrize(
    "original",
    ["intent.json", "with--dashes--inside", "--leading", "new\nline", "ünïcödé.json", "a"],
)
def test_claim_name_round_trips(original: str) -> None:
    """parse_claim_name inverts claim_name, whatever the original name contains."""
    claim_id = new_claim_id()
    name = claim_name(claim_id, original)
    assert name == f"{claim_id}--{original}"
    assert parse_claim_name(name) == (claim_id, original)


@pytest.mark.parametrize(
    "name",
    ["intent.json", "0123456789abcdef-abcdef--", "0123-abcdef--x", "0123456789ABCDEF-abcdef--x"],
)
def test_parse_claim_name_rejects_other_names(name: str) -> None:
    """Names that are not exactly <16 hex>-<6 hex>--<original> do not parse."""
    assert parse_claim_name(name) is None


def test_claim_name_trims_overlong_original_to_leave_room_for_reason_file() -> None:
    """An overlong original is cut on a character boundary so the reason file name fits."""
    claim_id = new_claim_id()
    name = claim_name(claim_id, "é" * 200)
    assert len(os.fsencode(name + ".reason.json")) <= 255
    parsed = parse_claim_name(name)
    assert parsed is not None
    assert set(parsed[1]) == {"é"}
