import pytest

from tinymlaas.datasets import paths
from tinymlaas.datasets.paths import InvalidPath


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("", ""),
        ("/", ""),
        ("cat", "cat"),
        ("train/cat", "train/cat"),
        ("/train/cat", "train/cat"),
        ("train/cat/", "train/cat"),
        ("chats noirs/été", "chats noirs/été"),
    ],
)
def test_normalize_folder_returns_canonical_form(given: str, expected: str) -> None:
    assert paths.normalize_folder(given) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("a/../b", "contains '..'"),
        ("..", "contains '..'"),
        ("a/./b", "contains '.'"),
        ("a//b", "empty component"),
        ("//a", "empty component"),
        ("a\\b", "backslash"),
        ("C:/data", "drive letter"),
        ("c:", "drive letter"),
        ("a\x00b", "control character"),
        ("a\nb", "control character"),
        ("a/" + "x" * 201, "201 characters, over the limit of 200"),
        ("/".join(["x" * 100] * 6), "605 characters long, over the limit of 512"),
    ],
)
def test_normalize_folder_rejects_with_reason(given: str, message: str) -> None:
    with pytest.raises(InvalidPath, match="folder") as caught:
        paths.normalize_folder(given)
    assert message in str(caught.value)
    assert repr(given) in str(caught.value)


def test_long_names_at_the_limits_are_accepted() -> None:
    name = "x" * paths.MAX_NAME_LENGTH
    folder = "/".join([name, name, "y" * (paths.MAX_FOLDER_LENGTH - 2 * len(name) - 2)])
    assert len(folder) == paths.MAX_FOLDER_LENGTH
    assert paths.normalize_folder(folder) == folder
    assert paths.validate_name(name) == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "empty"),
        ("a/b.png", "contains '/'"),
        ("a\\b.png", "backslash"),
        (".", "contains '.'"),
        ("..", "contains '..'"),
        ("x\x7f.png", "control character"),
        ("x" * 201, "over the limit of 200"),
    ],
)
def test_validate_name_rejects_with_reason(name: str, message: str) -> None:
    with pytest.raises(InvalidPath) as caught:
        paths.validate_name(name)
    assert message in str(caught.value)


def test_validate_name_returns_a_good_name() -> None:
    assert paths.validate_name("cat 1.png") == "cat 1.png"


def test_join_and_split_path_are_inverse() -> None:
    assert paths.join("", "x.png") == "x.png"
    assert paths.join("cat", "x.png") == "cat/x.png"
    assert paths.split_path("a/b/x.png") == ("a/b", "x.png")
    assert paths.split_path("x.png") == ("", "x.png")
    assert paths.split_path(paths.join("a/b", "x.png")) == ("a/b", "x.png")


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("", (None, None)),
        ("cat", ("cat", None)),
        ("train/cat", ("cat", "train")),
        ("val/dog", ("dog", "validation")),
        ("validation/dog", ("dog", "validation")),
        ("test/a/b", ("b", "test")),
        ("train", (None, "train")),
        ("val", (None, "validation")),
        ("animals/cat", ("cat", None)),
        ("animals/train", ("train", None)),
        ("Train/cat", ("cat", None)),
    ],
)
def test_classify_follows_the_keras_convention(
    folder: str, expected: tuple[str | None, str | None]
) -> None:
    assert paths.classify(folder) == expected


def test_ancestors_lists_every_level_top_down() -> None:
    assert paths.ancestors("a/b/c") == ["a", "a/b", "a/b/c"]
    assert paths.ancestors("a") == ["a"]
    assert paths.ancestors("") == []


@pytest.mark.parametrize(
    ("folder", "parent", "expected"),
    [
        ("a/b", "a", True),
        ("a", "a", True),
        ("a/b/c", "a/b", True),
        ("ab", "a", False),
        ("a", "a/b", False),
        ("b/a", "a", False),
        ("anything", "", True),
        ("", "", True),
        ("", "a", False),
    ],
)
def test_is_within(folder: str, parent: str, expected: bool) -> None:
    assert paths.is_within(folder, parent) is expected


@pytest.mark.parametrize(
    ("name", "taken", "expected"),
    [
        ("000.jpg", set(), "000.jpg"),
        ("000.jpg", {"000.jpg"}, "000 (2).jpg"),
        ("000.jpg", {"000.jpg", "000 (2).jpg"}, "000 (3).jpg"),
        ("000 (2).jpg", {"000.jpg", "000 (2).jpg"}, "000 (3).jpg"),
        ("000 (7).jpg", {"000 (7).jpg"}, "000 (2).jpg"),
        (" (2).jpg", {" (2).jpg"}, " (2) (2).jpg"),
        ("archive.tar.gz", {"archive.tar.gz"}, "archive.tar (2).gz"),
        ("README", {"README"}, "README (2)"),
        (".hidden", {".hidden"}, ".hidden (2)"),
    ],
)
def test_numbered_name_is_the_first_free_copy_name(
    name: str, taken: set[str], expected: str
) -> None:
    assert paths.numbered_name(name, taken) == expected


def test_numbered_name_stays_within_the_name_limit() -> None:
    name = "a" * (paths.MAX_NAME_LENGTH - 4) + ".png"
    numbered = paths.numbered_name(name, {name})
    assert len(numbered) == paths.MAX_NAME_LENGTH
    assert numbered.endswith(" (2).png")
    assert paths.validate_name(numbered) == numbered
