"""The wire folder reader against real files, links, named pipes and threads.

The folder cannot trick it: only its own finished ``*.txt`` files are read;
links are never followed; a symlink, pipe, directory or device swapped in
between listing and opening is skipped and never blocks; one read has a
budget; files known unchanged are not even opened. ``now`` is passed in, so no
test sleeps: files written here are read "a minute later" unless a test is
about the quiet period.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feedsvc.errors import FetchError
from feedsvc.fetch import Fetcher, Limits, read_folder
from feedsvc.fetch.folder import is_wire_name
from feedsvc.model import Fetched, FileStat, Source, Validators
from inbox_support import settle

SECRET = b"root:x:0:0:TOP-SECRET"
STORY = b"A wire story\n\nNYM Desk\n\nPublished : 10:00, 1 July 2025\n\nBody.\n"
HANG_GUARD = 60.0  # seconds: a reader that blocks never comes back; a working one takes ms


def later() -> datetime:
    """The wall clock a minute from now: every file written so far has settled."""
    return datetime.now(UTC) + timedelta(minutes=1)


def wire_source(path: Path, **changes: object) -> Source:
    source = Source(id="nym-wire", kind="files", desk="nym", every=timedelta(minutes=5), path=path)
    return replace(source, **changes)


class CountingOpener:
    """``os.open`` that records every name it opens, and may act just before opening."""

    def __init__(self, before: Callable[[str], None] | None = None) -> None:
        self.opened: list[str] = []
        self.before = before

    def __call__(self, name: str, flags: int, dir_fd: int) -> int:
        self.opened.append(name)
        if self.before is not None:
            self.before(name)
        return os.open(name, flags, dir_fd=dir_fd)


def read(
    path: Path,
    *,
    max_bytes: int = 1000,
    now: datetime | None = None,
    known: dict[str, FileStat] | None = None,
    source: Source | None = None,
    **options: object,
) -> Fetched:
    return read_folder(
        source or wire_source(path),
        max_bytes,
        now=now or later(),
        known=known,
        **options,
    )


def read_without_hanging(path: Path, opener: CountingOpener, **options: object) -> Fetched:
    """Read in a thread; should it block (a pipe opened without O_NONBLOCK), fail the test.

    A blocked open is freed by opening every wire name for writing, so the
    thread can end and the failure is reported instead of a hung run.
    """
    outcome: list[Fetched | BaseException] = []

    def run() -> None:
        try:
            outcome.append(read(path, opener=opener, **options))
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)

    reader = threading.Thread(target=run, daemon=True)
    reader.start()
    reader.join(HANG_GUARD)
    if reader.is_alive():
        for name in os.listdir(path):
            with contextlib.suppress(OSError):
                os.close(os.open(path / name, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(HANG_GUARD)
        pytest.fail("the reader blocked opening a wire file")
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def in_a_thread(work: Callable[[], None]) -> None:
    """Run ``work`` in another thread and wait for it: the swap comes from outside the reader."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if errors:
        raise errors[0]


# -- what is a wire file ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "listed"),
    [
        ("story.txt", True),
        ("STORY.TXT", True),
        (".story.txt", False),
        ("story.txt.tmp", False),
        ("story.tmp", False),
        ("story.txt.part", False),
        ("story.txt~", False),
        ("story.md", False),
        ("story.TMP", False),
    ],
)
def test_wire_names(name: str, listed: bool) -> None:
    assert is_wire_name(name) is listed


def test_reads_the_folders_own_txt_files_sorted(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_bytes(b"Second\n")
    (tmp_path / "a.txt").write_bytes(b"First\n")
    (tmp_path / "C.TXT").write_bytes(b"Third\n")
    for ignored in ("notes.md", ".hidden.txt", "d.txt.tmp", "e.txt.part", "f.txt~"):
        (tmp_path / ignored).write_bytes(b"not a wire article (yet)")
    (tmp_path / "dir.txt").mkdir()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "nested.txt").write_bytes(b"Subfolders are not read\n")

    fetched = read(tmp_path)

    assert [d.name for d in fetched.documents] == ["C.TXT", "a.txt", "b.txt"]
    assert [d.content for d in fetched.documents] == [b"Third\n", b"First\n", b"Second\n"]
    assert all(d.headers == {} for d in fetched.documents)
    assert fetched.listing == ("C.TXT", "a.txt", "b.txt")
    assert fetched.problems == ()
    assert fetched.status is None
    assert not fetched.not_modified
    assert set(fetched.validators.files) == {"C.TXT", "a.txt", "b.txt"}
    assert fetched.validators.files["a.txt"] == FileStat(
        6, (tmp_path / "a.txt").stat().st_mtime_ns
    )


def test_oversized_file_is_a_problem_of_that_file_and_stays_listed(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_bytes(b"x" * 101)
    (tmp_path / "ok.txt").write_bytes(b"x" * 100)

    opener = CountingOpener()
    fetched = read(tmp_path, max_bytes=100, budget=150, opener=opener)

    assert opener.opened == ["ok.txt"]  # refused by its listed size, and not held against ok.txt
    assert [d.name for d in fetched.documents] == ["ok.txt"]
    assert fetched.problems == ("big.txt: skipped, larger than 100 bytes",)
    assert fetched.listing == ("big.txt", "ok.txt")
    assert "big.txt" not in fetched.validators.files  # not read: tried again next time


@pytest.mark.parametrize("make", ["missing", "file"])
def test_the_folder_must_be_a_folder(tmp_path: Path, make: str) -> None:
    target = tmp_path / "inbox"
    if make == "file":
        target.write_bytes(b"")

    with pytest.raises(FetchError, match=r"folder not found: .*inbox"):
        read(target)


def test_the_operators_folder_path_may_be_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.txt").write_bytes(STORY)
    (tmp_path / "inbox").symlink_to(real, target_is_directory=True)

    assert [d.name for d in read(tmp_path / "inbox").documents] == ["a.txt"]


def test_a_folder_past_the_entry_ceiling_fails_whole(tmp_path: Path) -> None:
    for index in range(4):
        (tmp_path / f"{index}.txt").write_bytes(STORY)

    with pytest.raises(FetchError, match="more than 3 entries"):
        read(tmp_path, max_entries=3)


def test_a_name_that_is_not_utf8_is_read(tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9.txt")
    (tmp_path / name).write_bytes(STORY)

    fetched = read(tmp_path)

    assert [d.name for d in fetched.documents] == [name]
    assert fetched.listing == (name,)


# -- links ----------------------------------------------------------------------------------


def test_links_are_never_followed(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_bytes(SECRET)
    (inbox / "real.txt").write_bytes(STORY)
    (inbox / "passwd.txt").symlink_to("/etc/passwd")
    (inbox / "leak.txt").symlink_to(outside)
    (inbox / "alias.txt").symlink_to(inbox / "real.txt")
    (inbox / "etc.txt").symlink_to("/etc", target_is_directory=True)
    (inbox / "sub").symlink_to(tmp_path, target_is_directory=True)
    opener = CountingOpener()

    fetched = read(inbox, opener=opener)

    assert [d.name for d in fetched.documents] == ["real.txt"]
    assert opener.opened == ["real.txt"]  # the links were not even opened
    assert fetched.listing == ("real.txt",)
    link = "skipped, a symbolic link (links are not followed)"
    assert sorted(fetched.problems) == [
        f"alias.txt: {link}",
        f"etc.txt: {link}",
        f"leak.txt: {link}",
        f"passwd.txt: {link}",
    ]
    assert not any(b"root:" in d.content or SECRET in d.content for d in fetched.documents)


# -- what is swapped in between listing and opening ---------------------------------------


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _link_to_passwd(path: Path) -> None:
    path.symlink_to("/etc/passwd")


def _link_outside(path: Path) -> None:
    outside = path.parent.parent / "outside.txt"
    outside.write_bytes(SECRET)
    settle(outside)
    path.symlink_to(outside)


def _directory(path: Path) -> None:
    path.mkdir()


def _device(path: Path) -> None:
    os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # what /dev/null is


SWAPS = {
    "fifo": (_fifo, "a named pipe, not a file"),
    "link to /etc/passwd": (_link_to_passwd, "a symbolic link (links are not followed)"),
    "link outside": (_link_outside, "a symbolic link (links are not followed)"),
    "directory": (_directory, "a directory, not a file"),
    "device": (_device, "a device, not a file"),
}


@pytest.mark.parametrize("swap", sorted(SWAPS))
def test_what_is_swapped_in_after_the_listing_is_skipped_never_read(
    tmp_path: Path, swap: str
) -> None:
    if swap == "device" and os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    make, reason = SWAPS[swap]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    victim = inbox / "victim.txt"
    victim.write_bytes(STORY)
    (inbox / "other.txt").write_bytes(STORY)

    def swap_in(name: str) -> None:
        if name == "victim.txt":  # listed as a regular file; replaced now, by another thread
            in_a_thread(lambda: (victim.unlink(), make(victim)))

    opener = CountingOpener(before=swap_in)
    fetched = read_without_hanging(inbox, opener)

    assert "victim.txt" in opener.opened  # the window between listing and opening was hit
    assert fetched.problems == (f"victim.txt: skipped, {reason}",)
    assert [d.name for d in fetched.documents] == ["other.txt"]
    assert "victim.txt" not in fetched.validators.files
    assert fetched.listing == ("other.txt", "victim.txt")  # it was there when listed


def test_a_thread_swapping_files_gets_nothing_past_the_reader(tmp_path: Path) -> None:
    """A real race with no swap hook: a thread keeps replacing files with pipes and links
    while the folder is read over and over, until reads have opened both a pipe and a link
    that were regular files when listed. The opener only yields the processor before it
    opens, as a reader descheduled at that point would."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_bytes(SECRET)
    victims = [inbox / f"victim{index}.txt" for index in range(8)]
    scratch = inbox / ".swap"  # a dot name: never listed
    stop = threading.Event()

    def swapper() -> None:
        turn = 0
        while not stop.is_set():
            # each victim in turn becomes: a file, a pipe, a file, a link, a file, …
            kind = (turn // len(victims)) % 4
            if kind in (0, 2):
                scratch.write_bytes(STORY)
                settle(scratch)
            elif kind == 1:
                os.mkfifo(scratch)
            else:
                scratch.symlink_to(outside)
            os.replace(scratch, victims[turn % len(victims)])
            turn += 1

    thread = threading.Thread(target=swapper, daemon=True)
    thread.start()
    hit: set[str] = set()
    reads = 0
    try:
        while hit != {"pipe", "link"} and reads < 20_000:
            reads += 1
            opener = CountingOpener(before=lambda _name: time.sleep(0))
            fetched = read_without_hanging(inbox, opener)
            for document in fetched.documents:
                assert document.content == STORY
            for problem in fetched.problems:
                if problem.split(":")[0] not in opener.opened:
                    continue  # the listing itself saw a pipe or a link: not the window
                if "a named pipe" in problem:
                    hit.add("pipe")
                elif "a symbolic link" in problem:
                    hit.add("link")
    finally:
        stop.set()
        thread.join()
    assert hit == {"pipe", "link"}, f"window not hit in {reads} reads"


# -- unchanged files ------------------------------------------------------------------------


def test_unchanged_files_are_not_opened_changed_ones_are(tmp_path: Path) -> None:
    for name in ("a.txt", "b.txt", "c.txt"):
        (tmp_path / name).write_bytes(STORY)
    settle(*(tmp_path / name for name in ("a.txt", "b.txt", "c.txt")))
    first = read(tmp_path)
    opener = CountingOpener()

    second = read(tmp_path, known=dict(first.validators.files), opener=opener)

    assert opener.opened == [] and second.documents == ()
    assert second.listing == ("a.txt", "b.txt", "c.txt")
    assert second.validators.files == first.validators.files

    (tmp_path / "b.txt").write_bytes(STORY + b"More.\n")  # size and mtime change
    os.utime(tmp_path / "c.txt", ns=(0, first.validators.files["c.txt"].mtime_ns + 1))
    (tmp_path / "a.txt").unlink()
    opener = CountingOpener()
    third = read(tmp_path, known=dict(second.validators.files), opener=opener)

    assert sorted(opener.opened) == ["b.txt", "c.txt"]
    assert [d.name for d in third.documents] == ["b.txt", "c.txt"]
    assert third.listing == ("b.txt", "c.txt")
    assert set(third.validators.files) == {"b.txt", "c.txt"}  # a.txt is forgotten


def test_a_folder_of_100000_files_costs_no_open_when_nothing_changed(tmp_path: Path) -> None:
    count = 100_000
    for index in range(count):
        (tmp_path / f"{index:06d}.txt").write_bytes(b"Title %d\n\nBody.\n" % index)
    source = wire_source(tmp_path, max_items=count)
    first = read(tmp_path, source=source)
    assert len(first.documents) == count and first.problems == ()
    opener = CountingOpener()

    second = read(tmp_path, source=source, known=dict(first.validators.files), opener=opener)

    assert opener.opened == []
    assert second.documents == () and second.problems == ()
    assert len(second.listing or ()) == count
    assert second.validators.files == first.validators.files

    (tmp_path / "054321.txt").write_bytes(b"Title changed\n\nBody.\n")
    opener = CountingOpener()
    third = read(tmp_path, source=source, known=dict(second.validators.files), opener=opener)
    assert opener.opened == ["054321.txt"]
    assert [d.name for d in third.documents] == ["054321.txt"]


# -- the budget of one read -----------------------------------------------------------------


def _ten_files(folder: Path) -> list[str]:
    """Ten 100-byte files, 000.txt the newest: each is a second older than the one before."""
    names = [f"{index:03d}.txt" for index in range(10)]
    for age, name in enumerate(names):
        prefix = b"T%d\n\n" % age
        (folder / name).write_bytes(prefix + b"x" * (100 - len(prefix)))
        settle(folder / name, age=100 + age)
    return names


def test_the_budget_spreads_a_folder_over_reads_newest_first(tmp_path: Path) -> None:
    names = _ten_files(tmp_path)
    known: dict[str, FileStat] = {}
    rounds: list[list[str]] = []
    problems: list[tuple[str, ...]] = []
    while True:
        fetched = read(tmp_path, known=known, budget=350)
        if not fetched.documents:
            break
        assert fetched.listing == tuple(names)  # waiting files are listed all the same
        rounds.append([d.name for d in fetched.documents])
        problems.append(fetched.problems)
        known = dict(fetched.validators.files)
        assert len(rounds) < 10

    assert rounds == [names[0:3], names[3:6], names[6:9], names[9:10]]
    assert problems[0] == (
        "7 changed files wait for the next read: one read takes at most 350 bytes and 500 files",
    )
    assert problems[-1] == ()
    assert set(known) == set(names)


def test_max_items_caps_the_files_of_one_read(tmp_path: Path) -> None:
    names = _ten_files(tmp_path)

    fetched = read(tmp_path, source=wire_source(tmp_path, max_items=4))

    assert [d.name for d in fetched.documents] == names[:4]
    assert fetched.problems == (
        "6 changed files wait for the next read: one read takes at most 64 MiB and 4 files",
    )


def test_a_file_larger_than_the_budget_is_read_alone(tmp_path: Path) -> None:
    _ten_files(tmp_path)

    fetched = read(tmp_path, budget=50)

    assert [d.name for d in fetched.documents] == ["000.txt"]
    assert fetched.problems[0].startswith("9 changed files wait for the next read")


def test_the_fetcher_passes_its_budget_and_cap(tmp_path: Path) -> None:
    names = _ten_files(tmp_path)
    (tmp_path / "big.txt").write_bytes(b"x" * 5000)
    settle(tmp_path / "big.txt", age=500)
    fetcher = Fetcher(limits=Limits(max_bytes=4096, folder_budget=250), wall_clock=later)

    fetched = fetcher.fetch(wire_source(tmp_path), Validators())

    assert fetched.source_id == "nym-wire"
    assert [d.name for d in fetched.documents] == names[:2]
    assert fetched.problems == (
        "big.txt: skipped, larger than 4096 bytes",
        "8 changed files wait for the next read: one read takes at most 250 bytes and 500 files",
    )
    again = fetcher.fetch(wire_source(tmp_path), fetched.validators)
    assert [d.name for d in again.documents] == names[2:4]


# -- files still being written --------------------------------------------------------------


def test_a_young_file_waits_for_the_next_read(tmp_path: Path) -> None:
    old = tmp_path / "old.txt"
    old.write_bytes(STORY)
    settle(old)
    young = tmp_path / "young.txt"
    young.write_bytes(STORY)
    written = datetime.fromtimestamp(young.stat().st_mtime_ns / 1e9, UTC)

    for now in (written + timedelta(seconds=1), written - timedelta(seconds=1)):
        opener = CountingOpener()
        fetched = read(tmp_path, now=now, opener=opener)
        assert [d.name for d in fetched.documents] == ["old.txt"]
        assert opener.opened == ["old.txt"]  # not even opened
        assert fetched.listing == ("old.txt", "young.txt")
        assert "young.txt" not in fetched.validators.files

    fetched = read(tmp_path, now=written + timedelta(seconds=2.5))
    assert [d.name for d in fetched.documents] == ["old.txt", "young.txt"]


def test_a_young_change_keeps_what_was_known(tmp_path: Path) -> None:
    story = tmp_path / "story.txt"
    story.write_bytes(STORY)
    settle(story)
    first = read(tmp_path)
    story.write_bytes(STORY + b"Updated.\n")
    written = datetime.fromtimestamp(story.stat().st_mtime_ns / 1e9, UTC)

    waiting = read(tmp_path, known=dict(first.validators.files), now=written)

    assert waiting.documents == ()
    assert waiting.validators.files == first.validators.files


# -- a folder that is not there, or not readable, withdraws nothing ------------------------


def as_nobody(work: Callable[[], object]) -> object:
    """``work()`` in a forked child without privileges (root reads every file anyway).

    Returns what it returned, or the exception it raised, as text: the child
    only answers through a pipe.
    """
    if os.geteuid() != 0:
        try:
            return repr(work())
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
    readable, writable = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        answer = ""
        try:
            os.setgid(65534)
            os.setuid(65534)
            answer = repr(work())
        except BaseException as exc:
            answer = f"{type(exc).__name__}: {exc}"
        finally:
            os.write(writable, answer.encode("utf-8", "replace"))
            os._exit(0)
    os.close(writable)
    chunks = []
    while chunk := os.read(readable, 65536):
        chunks.append(chunk)
    os.close(readable)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode()


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder the unprivileged child can reach (pytest's own is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="feedsvc-folder-"))
    path.chmod(0o755)
    yield path
    for inner in path.rglob("*"):
        with contextlib.suppress(OSError):
            inner.chmod(0o755 if inner.is_dir() else 0o644)
    shutil.rmtree(path)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (0o000, "FetchError: cannot open folder"),  # no permission at all: the source fails
        (0o311, "FetchError: cannot open folder"),  # may enter, may not list
        (0o644, "listing=('a.txt', 'b.txt')"),  # may list, may not look: still listed
    ],
)
def test_a_folder_the_service_may_not_read_withdraws_nothing(
    shared_tmp: Path, mode: int, expected: str
) -> None:
    inbox = shared_tmp / "inbox"
    inbox.mkdir()
    for name in ("a.txt", "b.txt"):
        (inbox / name).write_bytes(STORY)
    inbox.chmod(mode)

    def listing() -> str:
        fetched = read(inbox)
        return f"listing={fetched.listing!r} problems={fetched.problems!r}"

    answer = as_nobody(listing)
    assert expected in str(answer)
    if mode == 0o644:
        assert "a.txt: skipped, cannot read: Permission denied" in str(answer)


@pytest.mark.parametrize(
    ("files", "listing"),
    [
        ((), None),  # maybe an unmounted share: no listing, nothing withdrawn
        ((".feedsvc-emptied",), ()),  # emptied on purpose: everything withdrawn
        ((".feedsvc-emptied", "a.txt"), ("a.txt",)),
        (("notes.md", ".hidden.txt", "b.txt.part"), None),  # no wire file is no wire file
    ],
)
def test_a_folder_listing_no_wire_file_is_trusted_only_with_the_marker(
    tmp_path: Path, files: tuple[str, ...], listing: tuple[str, ...] | None
) -> None:
    for name in files:
        (tmp_path / name).write_bytes(STORY)

    assert read(tmp_path).listing == listing
