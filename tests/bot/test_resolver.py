"""Item resolution without the model: names, aliases and speech-recognition homophones found in the text,
and how the model's intents decide when no name is there."""

from __future__ import annotations

import pytest

from bot.nlu.names import load_item_names
from bot.nlu.pinyin_match import NameMatcher, fold
from bot.nlu.resolver import ItemResolution, Resolution


@pytest.fixture(scope="module")
def resolution() -> ItemResolution:
    return ItemResolution(load_item_names())


@pytest.mark.parametrize(
    ("text", "item", "source"),
    [
        ("我想办老年卡", "senior_transit_card", "name"),
        ("帮我妈办个长者卡", "senior_transit_card", "name"),
        ("老年咖怎么办", "senior_transit_card", "homophone"),  # 咖 ka for 卡 ka
        ("残疾正在哪里办", "disability_certificate", "homophone"),
        ("医保笨丢了", "medical_record_book", "homophone"),
        ("我要办老年人优待证", "elderly_preferential_card", "name"),
        ("我想办居住证", "residence_permit", "name"),
    ],
)
def test_names_and_homophones_decide(resolution: ItemResolution, text: str, item: str, source: str) -> None:
    result = resolution.resolve(text, [("greet", 0.9)])
    assert (result.item, result.source) == (item, source)
    assert result.confidence >= 0.9 and result.candidates == [item]


def test_two_items_named_means_ask(resolution: ItemResolution) -> None:
    result = resolution.resolve("老年卡和老年人优待证有什么区别", [])
    assert result.item is None
    assert set(result.candidates) == {"senior_transit_card", "elderly_preferential_card"}


def test_a_name_inside_a_longer_name_is_not_a_second_item(resolution: ItemResolution) -> None:
    result = resolution.resolve("老年人优待证", [])
    assert result.item == "elderly_preferential_card"


def test_clear_model_intent_decides(resolution: ItemResolution) -> None:
    ranking = [("item_senior_transit_card", 0.91), ("item_elderly_preferential_card", 0.05), ("greet", 0.01)]
    assert resolution.resolve("坐公交不要钱那个卡", ranking) == Resolution(
        "senior_transit_card", 0.91, ["senior_transit_card"], "model"
    )


def test_unsure_model_offers_candidates(resolution: ItemResolution) -> None:
    ranking = [("item_minimum_living_allowance", 0.45), ("item_temporary_assistance", 0.38), ("deny", 0.1)]
    result = resolution.resolve("家里困难能申请点什么", ranking)
    assert result.item is None
    assert result.candidates == ["minimum_living_allowance", "temporary_assistance"]


def test_out_of_scope_is_no_item(resolution: ItemResolution) -> None:
    ranking = [("out_of_scope", 0.88), ("item_residence_permit", 0.09)]
    assert resolution.resolve("我想办护照", ranking) == Resolution(None, 0.88, [], "none")


def test_accent_folding_only_for_names_of_three_syllables_or_more() -> None:
    assert fold("zheng") == "zen" and fold("ning") == "lin" and fold("shang") == "san"
    long_name = NameMatcher([("permit", "居住证")])
    hit = long_name.find("我要办居组怎")  # ju zhu zheng said as ju zu zen (southern accent)
    assert hit and hit[0].key == "permit" and hit[0].score < 0.95
    short_name = NameMatcher([("renewal", "签注")])
    assert short_name.find("签注一下")[0].score == 1.0
    assert short_name.find("前住")[0].score == 0.95  # same toneless pinyin: a homophone
    assert not short_name.find("前组")  # qian zu: accent folding would match, but two syllables are too short


def test_spans_point_into_the_original_text() -> None:
    matcher = NameMatcher([("senior_transit_card", "老年卡")])
    text = "我想，办 老年卡"
    hit = matcher.find(text)[0]
    assert text[hit.start : hit.end] == "老年卡"


def test_a_confident_model_beats_a_name_mentioned_as_context(resolution: ItemResolution) -> None:
    ranking = [("item_disability_living_subsidy", 0.82), ("item_disability_certificate", 0.1)]
    result = resolution.resolve("我有残疾证，家里低保，想领点生活费", ranking)
    assert (result.item, result.source) == ("disability_living_subsidy", "model")


def test_an_unsure_model_defers_to_the_name(resolution: ItemResolution) -> None:
    ranking = [("item_disability_certificate", 0.41), ("item_assistive_device", 0.35)]
    assert resolution.resolve("残疾正", ranking).item == "disability_certificate"
