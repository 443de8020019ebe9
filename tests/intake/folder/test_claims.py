"""A claim's way through the folders: claiming, reading and finishing a submission."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PosixPath

import pytest

from agent.intake.folder.claims import UnreadableSubmission, claim, finish, read_claimed
from agent.intake.folder.layout import IntakeLayout
from agent.intake.folder.names import Claim
from tests.support.bounded import run_bounded

# --- claim -----------------------------------------------------------------------------------


def test_claim_moves_file_into_work(layout: IntakeLayout) -> None:
    """claim() moves inbox/<name> to work/<claim_id>--<name> and describes it."""
    (layout.inbox / "intent.json").write_bytes(b"{}")
    result = claim(layout, "intent.json")
    assert result is not None
    assert result.original_name == "intent.json"
    assert result.path == layout.work / f"{result.claim_id}--intent.json"
    assert result.name == result.path.name
    assert result.path.read_bytes() == b"{}"
    assert not (layout.inbox / "intent.json").exists()


def test_claim_returns_none_when_file_already_taken(layout: IntakeLayout) -> None:
    """A name that vanished from the inbox (claimed elsewhere) gives None."""
    assert claim(layout, "gone.json") is None


def test_claim_without_work_dir_raises(layout: IntakeLayout) -> None:
    """A missing work/ is an error, not a lost race."""
    (layout.inbox / "intent.json").write_bytes(b"{}")
    layout.work.rmdir()
    with pytest.raises(FileNotFoundError):
        claim(layout, "intent.json")
    assert (layout.inbox / "intent.json").exists()


@pytest.mark.parametrize("name", ["", ".", "..", "../escape", "sub/file"])
def test_claim_rejects_non_plain_names(layout: IntakeLayout, name: str) -> None:
    """Names that are not a single path component are refused."""
    with pytest.raises(ValueError, match="plain file name"):
        claim(layout, name)


def test_claim_takes_fifo_without_opening(layout: IntakeLayout) -> None:
    """A FIFO in the inbox is claimed (to be rejected later) without being opened."""
    fifo = layout.inbox / "pipe"
    os.mkfifo(fifo)
    result = run_bounded(lambda: claim(layout, "pipe"), fifos=[fifo])
    assert result is not None
    assert stat.S_ISFIFO(result.path.lstat().st_mode)


def test_concurrent_claims_take_each_file_exactly_once(
    layout: IntakeLayout, move_mode: str
) -> None:
    """Two threads racing to claim the same 200 files claim each exactly once."""
    names = [f"intent-{i:03d}.json" for i in range(200)]
    for name in names:
        (layout.inbox / name).write_bytes(name.encode())
    barrier = threading.Barrier(2)

    def worker() -> list[Claim]:
        won: list[Claim] = []
        for name in names:
            barrier.wait(timeout=10)
            result = claim(layout, name)
            if result is not None:
                won.append(result)
        return won

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(worker), pool.submit(worker)]
        claims = [c for f in futures for c in f.result(timeout=60)]

    assert sorted(c.original_name for c in claims) == names
    assert list(layout.inbox.iterdir()) == []
    in_work = sorted(layout.work.iterdir())
    assert len(in_work) == len(names)
    for c in claims:
        assert c.path.read_bytes() == c.original_name.encode()
        assert c.path.stat().st_nlink == 1


# --- read_claimed ----------------------------------------------------------------------------

MAX = 64


def _regular(size: int) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        path = d / "file"
        path.write_bytes(b"x" * size)
        return path

    return build


def _symlink_to_file(d: Path) -> Path:
    (d / "real").write_bytes(b"{}")
    (d / "link").symlink_to(d / "real")
    return d / "link"


def _dangling_symlink(d: Path) -> Path:
    (d / "link").symlink_to(d / "nowhere")
    return d / "link"


def _fifo(d: Path) -> Path:
    os.mkfifo(d / "fifo")
    return d / "fifo"


def _directory(d: Path) -> Path:
    (d / "dir").mkdir()
    return d / "dir"


def _hard_link(d: Path) -> Path:
    (d / "original").write_bytes(b"{}")
    os.link(d / "original", d / "second")
    return d / "second"


def _missing(d: Path) -> Path:
    return d / "missing"


@pytest.mark.parametrize(
    ("build", "reason", "content"),
    [
        pytest.param(_symlink_to_file, "symlink", None, id="symlink_to_real_file"),
        pytest.param(_dangling_symlink, "symlink", None, id="dangling_symlink"),
        pytest.param(_fifo, "not_regular_file", None, id="fifo"),
        pytest.param(_directory, "not_regular_file", None, id="directory"),
        pytest.param(_hard_link, "hard_link", None, id="hard_link"),
        pytest.param(_regular(MAX + 1), "too_large", None, id="too_large"),
        pytest.param(_missing, "unreadable", None, id="missing"),
        pytest.param(_regular(MAX), None, b"x" * MAX, id="exactly_max_bytes"),
        pytest.param(_regular(0), None, b"", id="empty"),
    ],
)
def test_read_claimed(
    tmp_path: Path,
    build: Callable[[Path], Path],
    reason: str | None,
    content: bytes | None,
) -> None:
    """read_claimed returns regular single-link files up to max_bytes, else says why not."""
    path = build(tmp_path)
    if reason is None:
        assert run_bounded(lambda: read_claimed(path, MAX), fifos=[path]) == content
    else:
        with pytest.raises(UnreadableSubmission) as info:
            run_bounded(lambda: read_claimed(path, MAX), fifos=[path])
        assert info.value.reason == reason


@pytest.mark.parametrize(
    ("build", "reason"),
    [(_symlink_to_file, "symlink"), (_fifo, "not_regular_file")],
    ids=["symlink", "fifo"],
)
def test_read_claimed_judges_what_it_opened(
    tmp_path: Path, build: Callable[[Path], Path], reason: str
) -> None:
    """A name swapped after the lstat check is still caught, without following or blocking."""
    (tmp_path / "decoy").write_bytes(b"{}")
    decoy_stat = (tmp_path / "decoy").lstat()

    class SwappedPath(PosixPath):
        def lstat(self) -> os.stat_result:
            return decoy_stat

    path = SwappedPath(build(tmp_path))
    with pytest.raises(UnreadableSubmission) as info:
        run_bounded(lambda: read_claimed(path, MAX), fifos=[path])
    assert info.value.reason == reason


def test_read_claimed_catches_growth_after_fstat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file larger than fstat claimed (it grew) is rejected after reading max_bytes+1."""
    path = tmp_path / "growing"
    path.write_bytes(b"x" * (MAX * 2))
    real_fstat = os.fstat

    def stale_fstat(fd: int) -> os.stat_result:
        values = list(real_fstat(fd))
        values[stat.ST_SIZE] = MAX
        return os.stat_result(values)

    monkeypatch.setattr(os, "fstat", stale_fstat)
    with pytest.raises(UnreadableSubmission) as info:
        read_claimed(path, MAX)
    assert info.value.reason == "too_large"


def test_unreadable_submission_message_states_size_and_limit_not_content(tmp_path: Path) -> None:
    """The too_large message gives the size and the limit and never the file content."""
    path = tmp_path / "big"
    path.write_bytes(b"SECRET" * 20)
    with pytest.raises(UnreadableSubmission) as info:
        read_claimed(path, 100)
    message = str(info.value)
    assert "120" in message
    assert "100" in message
    assert "SECRET" not in message


def test_unreadable_submission_refuses_unknown_reason() -> None:
    """Only the documented reasons can be raised."""
    with pytest.raises(ValueError, match="unknown reason"):
        UnreadableSubmission("weird")


# --- finish ----------------------------------------------------------------------------------


def _claimed(layout: IntakeLayout, name: str = "intent.json") -> Claim:
    (layout.inbox / name).write_bytes(b"{}")
    result = claim(layout, name)
    assert result is not None
    return result


def test_finish_accepted_moves_to_done_idempotently(layout: IntakeLayout) -> None:
    """Accepted claims go to done/; finishing again returns the same path."""
    c = _claimed(layout)
    first = finish(layout, c, accepted=True)
    assert first == layout.done / c.name
    assert first.read_bytes() == b"{}"
    assert finish(layout, c, accepted=True) == first
    assert not c.path.exists()


def test_finish_rejected_writes_reason_beside_it_idempotently(layout: IntakeLayout) -> None:
    """Rejected claims go to rejected/ with <name>.reason.json; finishing again is harmless."""
    c = _claimed(layout)
    reason = json.dumps({"reason": "too_large"}).encode()
    for _ in range(2):
        dest = finish(layout, c, accepted=False, reason_document=reason)
        assert dest == layout.rejected / c.name
        assert dest.read_bytes() == b"{}"
        assert (layout.rejected / f"{c.name}.reason.json").read_bytes() == reason
    assert sorted(p.name for p in layout.rejected.iterdir()) == [c.name, f"{c.name}.reason.json"]


def test_finish_moves_symlink_without_following(layout: IntakeLayout) -> None:
    """A claimed symlink is rejected as a link; its target stays where it was."""
    target = layout.root / "target"
    target.write_bytes(b"secret")
    (layout.inbox / "link").symlink_to(target)
    c = claim(layout, "link")
    assert c is not None
    dest = finish(layout, c, accepted=False, reason_document=b"{}")
    assert dest.is_symlink()
    assert target.read_bytes() == b"secret"


def test_finish_raises_when_source_and_destination_both_exist(layout: IntakeLayout) -> None:
    """If the destination already exists while the claim is still in work/, nothing moves."""
    c = _claimed(layout)
    (layout.done / c.name).write_bytes(b"other")
    with pytest.raises(FileExistsError):
        finish(layout, c, accepted=True)
    assert c.path.read_bytes() == b"{}"
    assert (layout.done / c.name).read_bytes() == b"other"


def test_finish_raises_when_claim_is_nowhere(layout: IntakeLayout) -> None:
    """A claim missing from both work/ and the destination is an error."""
    c = Claim("0123456789abcdef-abcdef", "x", layout.work / "0123456789abcdef-abcdef--x")
    with pytest.raises(FileNotFoundError):
        finish(layout, c, accepted=True)


def test_finish_accepted_refuses_reason_document(layout: IntakeLayout) -> None:
    """Reason documents belong to rejections only."""
    c = _claimed(layout)
    with pytest.raises(ValueError, match="rejected"):
        finish(layout, c, accepted=True, reason_document=b"{}")
    assert c.path.exists()
