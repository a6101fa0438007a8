"""The one archive reader (extract/readers/archives.py): zip (zip64 included) and tar (plain or gzipped)
known by their bytes, members streamed, and what it refuses with a reason and a location."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from extract.files import SourcePathError, resolve_files, unread_exports
from extract.readers import archives


def write_tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1709251200
            tar.addfile(info, io.BytesIO(data))
    return path


def write_zip(path: Path, members: dict[str, bytes], zip64: bool = False) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            with archive.open(name, "w", force_zip64=zip64) as handle:
                handle.write(data)
    return path


def read_all(path: Path, name: str = "export") -> list[tuple[str, str, bytes | str]]:
    """(kind, location, bytes read or the refusal's reason) of every item, in order."""
    found: list[tuple[str, str, bytes | str]] = []
    for item in archives.inputs(path, name):
        if isinstance(item, archives.Refused):
            found.append(("refused", item.location, item.reason))
        else:
            with item.open() as stream:
                found.append(("member", item.location, stream.read()))
    return found


MEMBERS = {"Takeout/Mail/All mail Including Spam and Trash.mbox": b"From x\nSubject: a\n\nhi\n",
           "Takeout/Drive/notes.txt": b"other product"}


@pytest.mark.parametrize("maker,name", [
    (lambda p: write_zip(p, MEMBERS), "takeout-001.zip"),
    (lambda p: write_zip(p, MEMBERS, zip64=True), "takeout-001.zip"),
    (lambda p: write_tar(p, MEMBERS), "takeout-001.tgz"),
    (lambda p: write_tar(p, MEMBERS, "w"), "takeout-001.tar"),
    (lambda p: write_zip(p, MEMBERS), "misnamed.mbox"),  # the bytes decide, not the name
    (lambda p: write_tar(p, MEMBERS), "misnamed.json"),
])
def test_zip_zip64_tar_and_tgz_are_known_by_their_bytes_and_their_members_streamed(tmp_path: Path, maker, name) -> None:
    path = maker(tmp_path / name)
    assert archives.is_archive(path)
    assert read_all(path, name) == [("member", f"{name}!/{member}", data) for member, data in MEMBERS.items()]


# What Finder's "Compress" and bsdtar on a Mac add beside the files: an AppleDouble of each file.
APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02" + bytes(40) + b"com.apple.quarantine"


@pytest.mark.parametrize("maker,name,metadata", [
    (write_zip, "export.zip", ["__MACOSX/export/._tickets.csv", "__MACOSX/._export"]),
    (write_tar, "export.tgz", ["export/._tickets.csv"]),
])
def test_macos_finder_metadata_is_set_aside_by_name_never_read_as_a_file(tmp_path: Path, maker, name, metadata) -> None:
    members = {"export/tickets.csv": b"id\n1\n", **{m: APPLE_DOUBLE for m in metadata}}
    found = read_all(maker(tmp_path / name, members), name)
    assert found[0] == ("member", f"{name}!/export/tickets.csv", b"id\n1\n")
    assert found[1:] == [("refused", f"{name}!/{m}", "unexpected_file") for m in metadata]
    assert archives.is_finder_metadata("a/._b.csv") and not archives.is_finder_metadata("a/b._csv")


def test_a_plain_or_gzipped_file_is_one_member_read_as_its_bytes(tmp_path: Path) -> None:
    (tmp_path / "a.mbox").write_bytes(b"From x\n\nhi\n")
    (tmp_path / "b.mbox.gz").write_bytes(gzip.compress(b"From y\n\nho\n"))
    assert read_all(tmp_path / "a.mbox", "a.mbox") == [("member", "a.mbox", b"From x\n\nhi\n")]
    assert read_all(tmp_path / "b.mbox.gz", "b.mbox.gz") == [("member", "b.mbox.gz", b"From y\n\nho\n")]
    assert not archives.is_archive(tmp_path / "b.mbox.gz")


def test_zip_slip_names_and_tar_links_are_refused_and_the_rest_is_read(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "x.zip", {"../../etc/evil.mbox": b"x", "/abs.mbox": b"y", "ok.mbox": b"z"})
    assert read_all(path, "x.zip") == [("refused", "x.zip!/../../etc/evil.mbox", "unsafe_zip_member"),
                                       ("refused", "x.zip!//abs.mbox", "unsafe_zip_member"),
                                       ("member", "x.zip!/ok.mbox", b"z")]
    tgz = tmp_path / "x.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        link = tarfile.TarInfo("Takeout/Mail/link.mbox")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
        info = tarfile.TarInfo("../up.mbox")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"u"))
    assert [(kind, reason) for kind, _, reason in read_all(tgz)] == [("refused", "unsafe_zip_member")] * 2


def test_a_member_is_an_archive_by_its_bytes_or_its_name(tmp_path: Path) -> None:
    inner = io.BytesIO()
    write_zip(inner, {"a": b"b"})  # type: ignore[arg-type]
    path = write_zip(tmp_path / "x.zip", {"inner.bin": inner.getvalue(), "more.tar.gz": b"damaged",
                                          "mail.mbox.gz": gzip.compress(b"From x\n\nhi\n"), "mail.mbox": b"From"})
    kinds = {}
    for item in archives.inputs(path, "x.zip"):
        assert isinstance(item, archives.Member)
        kinds[item.name] = item.is_archive()
    assert kinds == {"inner.bin": True, "more.tar.gz": True, "mail.mbox.gz": False, "mail.mbox": False}


def test_a_zip_bomb_member_and_too_many_members_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archives, "RATIO_SLACK_BYTES", 1024)
    bomb = write_zip(tmp_path / "bomb.zip", {"zeros.mbox": b"\0" * (4 << 20), "ok.mbox": b"fine"})
    assert read_all(bomb, "bomb.zip") == [("refused", "bomb.zip!/zeros.mbox", "unsafe_archive"),
                                          ("member", "bomb.zip!/ok.mbox", b"fine")]
    tar_bomb = write_tar(tmp_path / "bomb.tgz", {"zeros.mbox": b"\0" * (4 << 20), "after.mbox": b"x"})
    found = read_all(tar_bomb, "bomb.tgz")
    assert found[-1][2] == "unsafe_archive" and ("member", "bomb.tgz!/after.mbox", b"x") not in found
    monkeypatch.setattr(archives, "MAX_MEMBERS", 3)
    many = write_zip(tmp_path / "many.zip", {f"{n}.mbox": b"x" for n in range(4)})
    assert read_all(many, "many.zip") == [("refused", "many.zip", "unsafe_archive")]
    many_tar = write_tar(tmp_path / "many.tgz", {f"{n}.mbox": b"x" for n in range(5)})
    assert [kind for kind, _, _ in read_all(many_tar)] == ["member"] * 3 + ["refused"]


def test_unknown_packings_and_damaged_archives_are_refused_with_their_reason(tmp_path: Path) -> None:
    (tmp_path / "mail.mbox.bz2").write_bytes(b"BZh91AY&SY" + b"\0" * 40)
    (tmp_path / "export.zip").write_bytes(b"PK\x03\x04 cut short")
    assert read_all(tmp_path / "mail.mbox.bz2", "m") == [("refused", "m", "unexpected_file")]
    assert read_all(tmp_path / "export.zip", "z") == [("refused", "z", "unreadable_file")]
    whole = write_tar(tmp_path / "whole.tgz", {"a.mbox": b"first", "b.mbox": bytes(range(256)) * 4000}).read_bytes()
    (tmp_path / "cut.tgz").write_bytes(whole[: len(whole) * 2 // 3])  # a download that broke off
    items = archives.inputs(tmp_path / "cut.tgz", "cut.tgz")
    first = next(items)
    assert isinstance(first, archives.Member)
    with first.open() as stream:
        assert stream.read() == b"first"
    second = next(items)
    assert isinstance(second, archives.Member)
    with pytest.raises(archives.READ_ERRORS), second.open() as stream:  # the platform sets it aside: unreadable_file
        stream.read()


def test_a_folder_holding_only_a_zip_is_read_when_the_platform_reads_archives(tmp_path: Path) -> None:
    folder = tmp_path / "takeout"
    folder.mkdir()
    write_zip(folder / "takeout-20240301T000000Z-001.zip", MEMBERS)
    write_tar(folder / "takeout-20240301T000000Z-002.tgz", MEMBERS)
    (folder / "readme.txt").write_text("not an export")
    assert [p.name for p in resolve_files("takeout", tmp_path, (".mbox",), archives=True)] == [
        "takeout-20240301T000000Z-001.zip", "takeout-20240301T000000Z-002.tgz"]
    assert unread_exports("takeout", tmp_path, (".mbox",), archives=True) == []
    with pytest.raises(SourcePathError, match="holds no .mbox file"):
        resolve_files("takeout", tmp_path, (".mbox",))  # a platform that does not read archives: as before
    assert len(unread_exports("takeout", tmp_path, (".mbox",))) == 2


def test_a_freshdesk_export_as_a_tgz_reads_like_its_zip(tmp_path: Path) -> None:
    """The same reader for every file platform: Freshdesk's export, tarred, gives the zip's rows."""
    from tests.python.freshdesk_helpers import note, run_extract, ticket, tickets_xml, user, users_xml
    from tests.python.freshdesk_helpers import write_zip as write_freshdesk_zip

    members = {"Tickets0.xml": tickets_xml(ticket(1, notes=note(11)), ticket(2)).encode(),
               "Users0.xml": users_xml(user()).encode(), "Companies0.xml": b"<companies/>",
               "attachments/scan.pdf": b"%PDF-1.4"}
    from_zip = run_extract([write_freshdesk_zip(tmp_path / "export.zip", members)], tmp_path / "z", tmp_path)
    from_tgz = run_extract([write_tar(tmp_path / "export.tgz", members)], tmp_path / "t", tmp_path)

    def rows(result: object) -> list[object]:
        return [[{k: v for k, v in r.items() if k != "_source_file"} for r in table]
                for table in (result.tickets, result.notes, result.users)]  # type: ignore[attr-defined]

    assert rows(from_tgz) == rows(from_zip) and len(from_zip.tickets) == 2
    assert [(r["reject_reason"], r["_source_file"]) for r in from_tgz.rejects] == [
        ("unexpected_file", "export.tgz!/attachments/scan.pdf")]
