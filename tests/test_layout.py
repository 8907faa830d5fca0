"""The composite's arrangement, shared by the public stream and the archive."""

from __future__ import annotations

import pytest

from livestream.layout import Tile, caption, cjk_font, layout


def _overlap(a: Tile, b: Tile) -> bool:
    return not (
        a.x + a.width <= b.x
        or b.x + b.width <= a.x
        or a.y + a.height <= b.y
        or b.y + b.height <= a.y
    )


@pytest.mark.parametrize("others", [0, 1, 2, 3, 4, 7, 12])
def test_the_judge_is_large_and_nobody_overlaps_or_leaves_the_canvas(others: int) -> None:
    people = [(f"p{i}", "party") for i in range(others)] + [("j", "judge")]
    tiles = layout(people, 1280, 720)
    assert tiles[0].key == "j", "the judge comes first, whatever the join order"
    assert {t.key for t in tiles} == {key for key, _ in people}
    judge = tiles[0]
    assert all(judge.width * judge.height > t.width * t.height for t in tiles[1:])
    for i, a in enumerate(tiles):
        assert a.x >= 0 and a.y >= 0 and a.x + a.width <= 1280 and a.y + a.height <= 720
        assert a.width % 2 == 0 and a.height % 2 == 0 and a.width > 0 and a.height > 0
        assert not any(_overlap(a, b) for b in tiles[i + 1 :])


def test_without_a_judge_everyone_shares_the_canvas() -> None:
    tiles = layout([("a", "party"), ("b", "site")], 1280, 720)
    assert [t.width for t in tiles] == [640, 640]


def test_a_cjk_font_is_installed_by_the_set_up() -> None:
    assert cjk_font().is_file()


def test_captions_name_the_role_in_chinese() -> None:
    assert caption("张三", "party") == "张三（当事人）"
    assert caption("李四", "judge") == "李四（法官）"
    assert caption("青龙镇人民法庭", "site") == "青龙镇人民法庭（云法庭点）"
