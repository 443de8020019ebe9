"""Several replicas on one intake folder: owner locks, adoption of dead replicas' claims, sweeping."""

from __future__ import annotations

import fcntl
import json
import os
import selectors
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agent.domain.outcomes import Reason, Status
from agent.intake.folder import renames
from agent.intake.folder.claims import claim
from agent.intake.folder.intake import DirectoryIntake
from agent.intake.folder.layout import IntakeLayout, list_claims
from agent.intake.folder.names import (
    Claim,
    claim_name,
    new_claim_id,
    new_owner_id,
    parse_claim,
    parse_claim_name,
)
from agent.intake.folder.owners import Owner, acquire_owner, adopt_orphans, sweep_own_temp_files

REPO = Path(__file__).resolve().parents[2]
DEAD_OWNER = "zz_dead1"  # a valid owner id no live process uses in these tests


@pytest.fixture
async def make_intake(layout: IntakeLayout) -> AsyncIterator[Callable[[], DirectoryIntake]]:
    made: list[DirectoryIntake] = []

    def make() -> DirectoryIntake:
        intake = DirectoryIntake(layout.root, max_file_bytes=4096, rescan_interval_s=1.0)
        made.append(intake)
        return intake

    yield make
    for intake in made:
        await intake.aclose()


def _drop(layout: IntakeLayout, *names: str) -> None:
    for name in names:
        (layout.inbox / name).write_bytes(name.encode())


def _dead_owner(layout: IntakeLayout, *names: str) -> list[Claim]:
    """What a SIGKILLed replica leaves: its unlocked lock file and claims named for it."""
    layout.owners.mkdir(exist_ok=True)
    (layout.owners / f"{DEAD_OWNER}.lock").write_text("{}")
    claims = []
    for name in names:
        claim_id = new_claim_id()
        path = layout.work / claim_name(claim_id, name, DEAD_OWNER)
        path.write_bytes(name.encode())
        claims.append(Claim(claim_id, name, path, DEAD_OWNER))
    return claims


def _ownerless(layout: IntakeLayout, *names: str) -> list[Claim]:
    _drop(layout, *names)
    claims = [claim(layout, name) for name in names]
    assert all(c is not None and c.owner is None for c in claims)
    return claims  # type: ignore[return-value]


# --- names and identities --------------------------------------------------------------------


def test_owner_ids_are_short_unique_and_safe_in_file_names() -> None:
    """Owner ids are at most 11 characters of [0-9a-z_], start with the pid, and differ."""
    ids = [new_owner_id() for _ in range(1000)]
    # 36^5 suffixes: two of 1,000 draws collide in about 1 run in 120 (the birthday bound),
    # six or more essentially never; a broken random source repeats far more.
    assert len(set(ids)) >= len(ids) - 5
    assert all(len(i) <= 11 and set(i) <= set("0123456789abcdefghijklmnopqrstuvwxyz_") for i in ids)
    assert int(ids[0].split("_")[0], 36) == os.getpid()


@pytest.mark.parametrize("original", ["intent.json", "a--b", ".x", "é" * 200, "line\nbreak"])
def test_owned_claim_names_round_trip_and_finish_without_the_owner(original: str) -> None:
    """<claim-id>.<owner>--<name> parses back; its final name is the owner-free claim name."""
    claim_id, owner = new_claim_id(), new_owner_id()
    name = claim_name(claim_id, original, owner)
    parsed = parse_claim(name)
    assert parsed is not None
    assert parsed[:2] == (claim_id, owner)
    assert parse_claim_name(name) == (claim_id, parsed[2])
    assert len(os.fsencode(name)) <= 255
    final = Claim(claim_id, parsed[2], Path(name), owner).final_name
    assert final == claim_name(claim_id, original)  # trimmed alike with and without owner
    assert len(os.fsencode(final + ".reason.json")) <= 255


def test_old_style_claim_names_are_ownerless() -> None:
    """A claim name without an owner tag still parses, with no owner."""
    claim_id = new_claim_id()
    assert parse_claim(f"{claim_id}--a.json") == (claim_id, None, "a.json")


@pytest.mark.parametrize("owner", ["", "UPPER", "has-dash", "has.dot", "x" * 12, "a/b"])
def test_claim_name_refuses_malformed_owner_ids(owner: str) -> None:
    """Owner ids outside [0-9a-z_]{1,11} are refused rather than written into a name."""
    with pytest.raises(ValueError, match="owner id"):
        claim_name(new_claim_id(), "a.json", owner)


def test_two_owners_in_one_process_exclude_each_other(layout: IntakeLayout) -> None:
    """flock is per open file description: a second open of a held lock file cannot lock it."""
    first, second = acquire_owner(layout), acquire_owner(layout)
    assert first.id != second.id
    assert first.lock_path.exists() and second.lock_path.exists()
    fd = os.open(first.lock_path, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    assert json.loads(first.lock_path.read_text())["pid"] == os.getpid()
    first.release()
    second.release()
    assert not layout.owners.exists()


def test_acquire_never_reuses_an_id_that_has_a_lock_file_or_claims(
    layout: IntakeLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An id with a (dead) lock file or with claims in work/ is skipped for a fresh one."""
    _dead_owner(layout, "a.json")
    (layout.work / claim_name(new_claim_id(), "b.json", "zz_gone")).write_text("{}")
    candidates = iter([DEAD_OWNER, "zz_gone", "zz_fresh"])
    monkeypatch.setattr("agent.intake.folder.owners.new_owner_id", lambda: next(candidates))
    owner = acquire_owner(layout)
    assert owner.id == "zz_fresh"
    assert not (layout.owners / "zz_gone.lock").exists()
    owner.release()


def test_a_released_owner_cannot_claim(layout: IntakeLayout) -> None:
    """Claiming for a released owner fails: its claims would look like a dead owner's."""
    owner = acquire_owner(layout)
    owner.release()
    _drop(layout, "a.json")
    with pytest.raises(RuntimeError, match="released"):
        claim(layout, "a.json", owner)
    assert (layout.inbox / "a.json").exists()


# --- leftovers and adoption ------------------------------------------------------------------


async def test_leftovers_never_adopt_a_live_replicas_claims(
    layout: IntakeLayout, make_intake: Callable[[], DirectoryIntake]
) -> None:
    """A replica starting beside a live one gets none of its claims; the live one keeps them."""
    live, starting = make_intake(), make_intake()
    await live.start(watch=False)
    _drop(layout, "a.json", "b.json")
    items = [await live.claim("a.json"), await live.claim("b.json")]
    paths = sorted(i.claim.path for i in items if i is not None)
    await starting.start(watch=False)
    assert starting.leftovers() == []
    assert starting.adopt_orphans() == []
    assert sorted(c.path for c in list_claims(layout)) == paths
    assert sorted(c.path for c in live.leftovers()) == paths


async def test_leftovers_adopt_a_stopped_replicas_claims_keeping_their_claim_ids(
    layout: IntakeLayout, make_intake: Callable[[], DirectoryIntake]
) -> None:
    """Claims left by a replica that stopped are renamed to the adopter, same claim id and name."""
    stopped, adopter = make_intake(), make_intake()
    await stopped.start(watch=False)
    _drop(layout, "a.json", "b.json")
    left = [(await stopped.claim(n)).claim for n in ("a.json", "b.json")]  # type: ignore[union-attr]
    await stopped.aclose()
    await adopter.start(watch=False)
    adopted = adopter.leftovers()
    assert [(c.claim_id, c.original_name) for c in adopted] == [
        (c.claim_id, c.original_name) for c in left
    ]
    assert all(c.owner == adopter.owner.id and c.path.exists() for c in adopted)
    assert not any(c.path.exists() for c in left)


async def test_a_dead_owners_claims_are_adopted_and_its_lock_file_removed(
    layout: IntakeLayout, make_intake: Callable[[], DirectoryIntake]
) -> None:
    """A lock file nobody holds marks a dead owner: its claims move over, then the file goes."""
    dead = _dead_owner(layout, "a.json", "b.json")
    old = _ownerless(layout, "c.json")
    intake = make_intake()
    await intake.start(watch=False)
    adopted = intake.leftovers()
    assert {c.claim_id for c in adopted} == {c.claim_id for c in dead + old}
    assert [c.claim_id for c in adopted] == sorted(c.claim_id for c in adopted)
    assert sorted(os.listdir(layout.owners)) == [f"{intake.owner.id}.lock"]
    assert {c.path.name for c in list_claims(layout)} == {c.path.name for c in adopted}


async def test_claims_of_an_owner_without_a_lock_file_are_adopted(
    layout: IntakeLayout, make_intake: Callable[[], DirectoryIntake]
) -> None:
    """An owner whose lock file is gone is dead: its claims are adopted."""
    dead = _dead_owner(layout, "a.json")
    (layout.owners / f"{DEAD_OWNER}.lock").unlink()
    intake = make_intake()
    await intake.start(watch=False)
    assert [c.claim_id for c in intake.leftovers()] == [dead[0].claim_id]


@pytest.mark.parametrize("move", ["renameat2", "link_fallback"])
def test_racing_replicas_adopt_each_orphan_exactly_once(
    layout: IntakeLayout, monkeypatch: pytest.MonkeyPatch, move: str
) -> None:
    """Three replicas adopting at once split a dead owner's and ownerless claims, none twice."""
    if move == "link_fallback":
        monkeypatch.setattr(renames, "_renameat2", None)
    elif renames._renameat2 is None:
        pytest.skip("libc has no renameat2")
    orphans = _dead_owner(layout, *[f"d-{i:03d}.json" for i in range(150)])
    orphans += _ownerless(layout, *[f"o-{i:03d}.json" for i in range(150)])
    owners = [acquire_owner(layout) for _ in range(3)]
    barrier = threading.Barrier(len(owners))

    def adopt(owner: Owner) -> list[Claim]:
        barrier.wait(timeout=10)
        return adopt_orphans(layout, owner)

    try:
        with ThreadPoolExecutor(max_workers=len(owners)) as pool:
            results = list(pool.map(adopt, owners))
        ids = [c.claim_id for adopted in results for c in adopted]
        assert sorted(ids) == sorted(c.claim_id for c in orphans)
        for owner, adopted in zip(owners, results, strict=True):
            assert all(c.owner == owner.id for c in adopted)
        assert not (layout.owners / f"{DEAD_OWNER}.lock").exists()
    finally:
        for owner in owners:
            owner.release()


async def test_adopt_orphans_while_running_returns_only_new_adoptions(
    layout: IntakeLayout, make_intake: Callable[[], DirectoryIntake]
) -> None:
    """adopt_orphans() leaves claims in progress out and picks up a replica that died since."""
    intake = make_intake()
    await intake.start(watch=False)
    assert intake.leftovers() == []
    _drop(layout, "mine.json")
    assert await intake.claim("mine.json") is not None
    dead = _dead_owner(layout, "theirs.json")
    assert [c.claim_id for c in intake.adopt_orphans()] == [dead[0].claim_id]
    assert intake.adopt_orphans() == []


# --- strays, sweeping, completing, closing ---------------------------------------------------


async def test_strays_leave_out_the_owners_folder_and_other_replicas_claims(
    layout: IntakeLayout, make_intake: Callable[[], DirectoryIntake]
) -> None:
    """Only names that are not claims (of any owner) are strays; work/.owners is not one."""
    other, intake = make_intake(), make_intake()
    await other.start(watch=False)
    _drop(layout, "a.json")
    assert await other.claim("a.json") is not None
    _dead_owner(layout, "b.json")
    (layout.work / "stray.json").write_text("{}")
    await intake.start(watch=False)
    assert intake.strays() == ["stray.json"]


async def test_sweep_keeps_live_replicas_temp_files(
    layout: IntakeLayout, make_intake: Callable[[], DirectoryIntake]
) -> None:
    """A starting replica sweeps untagged and dead owners' temp files, never a live one's."""
    live = make_intake()
    await live.start(watch=False)
    _dead_owner(layout)
    live_temp = layout.out / f".1.result.json.0123abcd.{live.owner.id}.tmp"
    dead_temps = [
        layout.out / f".2.result.json.0123abcd.{DEAD_OWNER}.tmp",
        layout.rejected / f".x--a.json.reason.json.deadbeef.{DEAD_OWNER}.tmp",
        layout.out / ".3.result.json.89abcdef.tmp",
        layout.out / ".4.result.json.0123abcd.zz_nolock.tmp",
    ]
    for path in [live_temp, *dead_temps]:
        path.write_text("{")
    starting = make_intake()
    await starting.start(watch=False)
    assert live_temp.exists()
    assert not any(p.exists() for p in dead_temps)


def test_sweep_removes_only_the_agents_own_partial_writes(tmp_path: Path) -> None:
    """Stale atomic_write temp files in out/ and rejected/ go; submissions and results stay."""
    layout = IntakeLayout(tmp_path)
    layout.ensure()
    stale = layout.out / ".abc.result.json.0123abcd.tmp"
    stale.write_text("{")
    partial_reason = layout.rejected / ".x--a.json.reason.json.deadbeef.tmp"
    partial_reason.write_text("{")
    keep = [
        layout.out / "abc.result.json",
        layout.rejected / "1-2--.hidden.json",
        layout.rejected / "1-2--a.json.tmp",
        layout.inbox / ".note.0123abcd.tmp",
    ]
    for path in keep:
        path.write_text("x")
    assert sorted(sweep_own_temp_files(layout)) == sorted([stale.name, partial_reason.name])
    assert all(path.exists() for path in keep)


async def test_complete_files_an_adopted_claim_under_its_owner_free_name(
    layout: IntakeLayout, make_intake: Callable[[], DirectoryIntake]
) -> None:
    """Results and originals of adopted claims land as before; no temp file stays behind."""
    dead = _dead_owner(layout, "a.json", "b.json")
    intake = make_intake()
    await intake.start(watch=False)
    first, second = intake.leftovers()
    for claimed, status in ((first, Status.FILLED), (second, Status.REJECTED)):
        item = await intake.read(claimed, resumed=True)
        assert item.raw == claimed.original_name.encode()
        await intake.complete(
            item,
            status=status,
            reason=None if status is Status.FILLED else Reason.EXPIRED,
            result_name=claimed.claim_id,
            result="{}",
        )
    assert os.listdir(layout.done) == [f"{dead[0].claim_id}--a.json"]
    assert sorted(os.listdir(layout.rejected)) == [
        f"{dead[1].claim_id}--b.json",
        f"{dead[1].claim_id}--b.json.reason.json",
    ]
    assert sorted(os.listdir(layout.out)) == sorted(f"{c.claim_id}.result.json" for c in dead)


async def test_aclose_deletes_the_lock_file_and_leaves_work_empty(
    layout: IntakeLayout, make_intake: Callable[[], DirectoryIntake]
) -> None:
    """A clean stop removes this replica's lock file and the then-empty owners folder."""
    intake = make_intake()
    await intake.start(watch=False)
    lock = intake.owner.lock_path
    assert lock.exists()
    await intake.aclose()
    assert not lock.exists()
    assert os.listdir(layout.work) == []


# --- real processes --------------------------------------------------------------------------

REPLICA = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from pathlib import Path
    from agent.intake.folder.intake import DirectoryIntake

    async def main(root, go, *names):
        root = Path(root)
        while go and not Path(go).exists():
            time.sleep(0.001)
        intake = DirectoryIntake(root, max_file_bytes=4096, rescan_interval_s=1.0)
        await intake.start(watch=False)
        owner = intake.owner.id
        report = {"owner": owner, "leftovers": [c.name for c in intake.leftovers()], "claims": []}
        for name in names:
            item = await intake.claim(name)
            if item is not None:
                report["claims"].append(item.claim.name)
        # A result being written, as atomic_write names its temporary file.
        (root / "out" / f".{owner}.result.json.0123abcd.{owner}.tmp").write_text("{")
        print(json.dumps(report), flush=True)
        sys.stdin.read()  # alive until the test closes stdin (or kills it)
        await intake.aclose()

    asyncio.run(main(*sys.argv[1:]))
    """
)


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []

    def start(root: Path, go: str, *names: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", REPLICA, str(root), go, *names],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def _report(proc: subprocess.Popen[str], timeout: float = 30.0) -> dict[str, list[str] | str]:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            pytest.fail("a replica did not report in time")
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=10)
        pytest.fail(f"a replica exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")  # type: ignore[union-attr]
    return json.loads(line)


def _claim_ids(names: object) -> list[str]:
    assert isinstance(names, list)
    return [parse_claim(n)[0] for n in names]  # type: ignore[index]


@pytest.mark.parametrize("attempt", range(3))
def test_killed_replicas_claims_are_adopted_once_by_two_survivors_starting_together(
    layout: IntakeLayout, spawn: Callable[..., subprocess.Popen[str]], attempt: int
) -> None:
    """Two survivors adopt a SIGKILLed replica's claims exactly once; a live replica is untouched."""
    killed_names = [f"k-{i:02d}.json" for i in range(40)]
    live_names = [f"l-{i:02d}.json" for i in range(20)]
    _drop(layout, *killed_names, *live_names)

    live = spawn(layout.root, "", *live_names)
    live_report = _report(live)
    killed = spawn(layout.root, "", *killed_names)
    killed_report = _report(killed)
    assert killed_report["leftovers"] == []  # the live replica's claims were not its to take
    # Left by an older agent: anyone's, but only once.
    ownerless = _ownerless(layout, *[f"o-{i:02d}.json" for i in range(10)])
    killed.send_signal(signal.SIGKILL)
    assert killed.wait(timeout=10) == -signal.SIGKILL
    killed_lock = layout.owners / f"{killed_report['owner']}.lock"
    assert killed_lock.exists()  # the kernel dropped the lock, the file stays

    go = layout.root / "go"
    survivors = [spawn(layout.root, str(go)), spawn(layout.root, str(go))]
    go.touch()
    reports = [_report(s) for s in survivors]

    adopted = [i for r in reports for i in _claim_ids(r["leftovers"])]
    expected = _claim_ids(killed_report["claims"]) + [c.claim_id for c in ownerless]
    assert sorted(adopted) == sorted(expected)
    for report in reports:
        assert all(parse_claim(n)[1] == report["owner"] for n in report["leftovers"])  # type: ignore[index, union-attr]
    assert not killed_lock.exists()
    assert not (
        layout.out / f".{killed_report['owner']}.result.json.0123abcd.{killed_report['owner']}.tmp"
    ).exists()

    # The live replica is untouched: same claims under its own name, lock file and temp file.
    live_owner = live_report["owner"]
    assert live.poll() is None
    live_claims = [c.name for c in list_claims(layout) if c.owner == live_owner]
    assert sorted(live_claims) == sorted(live_report["claims"])  # type: ignore[arg-type]
    assert len(live_claims) == len(live_names)
    assert (layout.owners / f"{live_owner}.lock").exists()
    assert (layout.out / f".{live_owner}.result.json.0123abcd.{live_owner}.tmp").exists()

    for proc in [live, *survivors]:
        proc.communicate(input="", timeout=30)
        assert proc.returncode == 0
    # Each stopped cleanly: their lock files are gone, so their claims are now anyone's.
    assert not layout.owners.exists()
    owners_left = {c.owner for c in list_claims(layout)}
    assert live_owner in owners_left
    assert owners_left <= {live_owner, *(r["owner"] for r in reports)}
