"""Entry-name normalisation and link resolution on the recorded tree (no filesystem involved)."""

from __future__ import annotations

import pytest

from imgsrc.archives.tree import Dir, File, Symlink, Tree, entry_parts
from imgsrc.errors import ArchiveError


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("a/b", ("a", "b")),
        ("./a//b/", ("a", "b")),
        ("./", ()),
        (".", ()),
        ("a/./b", ("a", "b")),
        ("..a/b..", ("..a", "b..")),
    ],
)
def test_entry_names_normalise_to_components(name: str, parts: tuple[str, ...]) -> None:
    assert entry_parts(name) == parts


@pytest.mark.parametrize(("name", "words"), [("/a", "absolute"), ("a/../b", "'..'"), ("a\x00b", "NUL")])
def test_hostile_entry_names_are_refused(name: str, words: str) -> None:
    with pytest.raises(ArchiveError, match=words):
        entry_parts(name)


def test_very_long_names_are_cut_in_messages() -> None:
    with pytest.raises(ArchiveError) as caught:
        entry_parts("/" + "x" * 100_000)
    assert len(str(caught.value)) < 300


def tree_with(*links: tuple[str, str], files: tuple[str, ...] = ()) -> Tree[str]:
    tree: Tree[str] = Tree()
    for name in files:
        tree.put(entry_parts(name), File(name))
    for name, target in links:
        tree.put(entry_parts(name), Symlink(target))
    return tree


def test_resolution_follows_links_like_the_kernel() -> None:
    tree = tree_with(("lib", "usr/lib"), ("usr/lib/cur", "../lib/v2"), files=("usr/lib/v2/so",))
    assert tree.resolve(("lib", "cur", "so"), entry="x") == ("usr", "lib", "v2", "so")
    assert tree.lookup_file(("lib", "cur", "so"), entry="x") == "usr/lib/v2/so"


def test_dotdot_applies_after_following_a_link() -> None:
    """``d/up/..`` is the parent of where ``d/up`` leads, not ``d`` — lexical cleaning would get this wrong."""
    tree = tree_with(("d/up", ".."))
    tree.put(("d",), Dir())
    with pytest.raises(ArchiveError, match="outside"):
        tree.resolve(("d", "up", ".."), entry="e")


def test_loops_lead_nowhere_without_failing() -> None:
    tree = tree_with(("a", "b"), ("b", "a"))
    assert tree.resolve(("a",), entry="a") is None
    tree.check_symlinks()  # a loop cannot escape


def test_check_symlinks_judges_links_against_the_final_tree() -> None:
    tree = tree_with(("e", "d/q/.."))
    tree.check_symlinks()
    tree.put(("d", "q"), Symlink(".."))
    with pytest.raises(ArchiveError, match=r"'e'.*outside"):
        tree.check_symlinks()


def test_placement_refuses_writing_through_links_and_files() -> None:
    tree = tree_with(("l", "d"), files=("f",))
    with pytest.raises(ArchiveError, match="through symlink 'l'"):
        tree.check_placeable(("l", "x"), entry="l/x", directory=False)
    with pytest.raises(ArchiveError, match="'f' is not a directory"):
        tree.check_placeable(("f", "x"), entry="f/x", directory=False)
    tree.check_placeable(("f",), entry="f", directory=False)  # replacing a file by a file is fine
    with pytest.raises(ArchiveError, match="conflicts"):
        tree.check_placeable(("f",), entry="f", directory=True)


def test_lookup_of_a_missing_or_non_file_path_names_it() -> None:
    tree = tree_with(("l", "nowhere"))
    tree.put(("d",), Dir())
    for parts in [("missing",), ("l",), ("d",)]:
        with pytest.raises(ArchiveError, match="'what' is missing"):
            tree.lookup_file(parts, entry="what")
