"""Honest Sign codes of every product group in the reference (wms-and-marking.md §2), tricky ones included, and
SSCCs: what is accepted, what each rejection says, and that normalising is idempotent."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitrix_inflow.domain.marking import (
    GS,
    Group,
    MarkingError,
    check_gtin,
    check_shipped,
    normalize,
    parse,
    parse_sscc,
)

SHOE_GTIN, BLOCK_GTIN, DAIRY_GTIN, PACK_GTIN = (
    "04690257528523",
    "04600439931256",
    "03041094787443",
    "00000046198488",
)
# A crypto tail with the characters that break other parsers: "(" and ")" (python-stdnum drops them), and the
# digit pairs "91"/"93" that a search for AIs would split on.
CRYPTO_88 = "sOe6(91)Zx93+/abc=" + "Q" * 60 + "0123456789"
CRYPTO_44 = "Kw93(h)91/+" + "z" * 33
SERIAL_13 = "5a91b93c(12)%"  # "91" and "93" inside, and brackets


def shoes(serial: str = SERIAL_13, crypto: str = CRYPTO_88, sep: str = GS) -> str:
    return f"01{SHOE_GTIN}21{serial}{sep}91EE05{sep}92{crypto}"


def test_a_shoe_code_parses_whole_with_its_tail_kept_as_sent() -> None:
    code = parse(shoes(), Group.SHOES)
    assert (code.gtin, code.serial) == (SHOE_GTIN, SERIAL_13)
    assert code.verification == (("91", "EE05"), ("92", CRYPTO_88))
    assert code.full == shoes()  # never rebuilt: the receipt carries what was read
    assert code.identity == f"01{SHOE_GTIN}21{SERIAL_13}"


def test_a_code_without_its_separators_gets_them_back_from_the_groups_lengths() -> None:
    code = parse(shoes(sep=""), Group.SHOES)
    assert code.serial == SERIAL_13 and code.verification == (("91", "EE05"), ("92", CRYPTO_88))
    assert code.full == shoes()


@pytest.mark.parametrize("group", [Group.TEXTILE, Group.TYRES, Group.PERFUME])
def test_light_industry_tyres_and_perfume_carry_a_44_character_tail(group: Group) -> None:
    code = parse(f"01{SHOE_GTIN}21{SERIAL_13}{GS}91ab12{GS}92{CRYPTO_44}", group)
    assert code.verification == (("91", "ab12"), ("92", CRYPTO_44))
    with pytest.raises(MarkingError, match="AI 92 has 88 characters"):
        parse(shoes(), group)


def test_medicines_may_carry_expiry_and_batch() -> None:
    raw = f"01{SHOE_GTIN}21{SERIAL_13}{GS}17261231" + f"10BATCH-7{GS}91ab12{GS}92{CRYPTO_44}"
    code = parse(raw, Group.MEDICINES)
    assert code.serial == SERIAL_13 and code.verification == (("91", "ab12"), ("92", CRYPTO_44))


def test_water_and_dairy_end_with_a_4_character_93() -> None:
    water = parse(f"01{SHOE_GTIN}21{SERIAL_13}{GS}93Ab(1", Group.WATER)
    assert water.verification == (("93", "Ab(1"),)
    dairy = parse(f"01{DAIRY_GTIN}2155Qbag!{GS}93Zjqw", Group.DAIRY)  # the Yandex example: a 7-char serial
    assert (dairy.serial, dairy.verification) == ("55Qbag!", (("93", "Zjqw"),))
    weighed = parse(f"01{DAIRY_GTIN}2155Qbag!{GS}3103000750{GS}93Zjqw", Group.DAIRY)
    assert weighed.verification == (("93", "Zjqw"),)


def test_a_dairy_code_without_separators_is_refused_not_guessed() -> None:
    """Dairy serials vary in length: where "93" starts cannot be told, so nothing is guessed."""
    with pytest.raises(MarkingError, match="lacks AI 93"):
        parse(f"01{DAIRY_GTIN}2155Qbag!93Zjqw", Group.DAIRY)


def test_tobacco_block_and_pack() -> None:
    block = parse(f"01{BLOCK_GTIN}21JgXJ5.T{GS}8005112000{GS}93Mdlr", Group.TOBACCO_BLOCK)
    assert (block.serial, block.verification) == ("JgXJ5.T", (("8005", "112000"), ("93", "Mdlr")))
    pack = parse(f"{PACK_GTIN}X?io+qCABm8wAYa", Group.TOBACCO_PACK)  # 29 characters, no AIs
    assert (pack.gtin, pack.serial, pack.identity) == (PACK_GTIN, "X?io+qC", f"01{PACK_GTIN}21X?io+qC")
    with pytest.raises(MarkingError, match="29 characters"):
        parse(f"{PACK_GTIN}X?io+qCABm8wAY", Group.TOBACCO_PACK)


@pytest.mark.parametrize(
    ("raw", "group", "says"),
    [
        (shoes().replace(SHOE_GTIN, "04690257528524"), Group.SHOES, "wrong check digit"),
        (shoes(serial="5a91b93c(12)"), Group.SHOES, "the serial has 12 characters, shoes codes have 13"),
        (shoes(crypto=CRYPTO_44), Group.SHOES, "AI 92 has 44 characters, a shoes code has 88"),
        (f"01{SHOE_GTIN}21{SERIAL_13}{GS}91EE05", Group.SHOES, "lacks AI 92"),
        (
            f"01{SHOE_GTIN}21{SERIAL_13}{GS}93Ab(1{GS}91EE05{GS}92{CRYPTO_88}",
            Group.SHOES,
            "AIs 93 do not belong",
        ),
        (f"01{SHOE_GTIN}21{SERIAL_13}{GS}93Ab#1", Group.WATER, "not a GS1 code"),
        (f"21{SERIAL_13}{GS}01{SHOE_GTIN}{GS}93Ab(1", Group.WATER, "starts with 01 (GTIN) and 21"),
        ("hello", Group.WATER, "not a GS1 code"),
    ],
)
def test_each_rejection_says_what_is_wrong(raw: str, group: Group, says: str) -> None:
    with pytest.raises(MarkingError) as refused:
        parse(raw, group)
    assert says in refused.value.problem


def test_the_code_must_be_of_the_products_gtin() -> None:
    code = parse(shoes(), Group.SHOES)
    check_gtin(code, "4690257528523")  # a GTIN-13 is its GTIN-14 without the leading zero
    with pytest.raises(MarkingError, match="the product's is 4600439931256"):
        check_gtin(code, "4600439931256")


@pytest.mark.parametrize(
    "raw",
    [
        "]d2" + shoes(),
        "\xe8" + shoes(),
        "]d2\xe8" + shoes() + "\r\n",
        "  " + shoes(sep="<GS>") + " ",
        shoes(sep="\\u001d"),
        shoes(sep="{GS}"),
        shoes(sep="\u241d"),
        shoes(sep="<FNC1>"),
    ],
)
def test_scanner_output_is_normalised_to_the_code(raw: str) -> None:
    assert normalize(raw) == shoes()
    assert parse(raw, Group.SHOES).full == shoes()


_TOKENS = st.sampled_from(
    ["]d2", "]C1", "\xe8", "<GS>", "{GS}", "\\u001d", "^]", "<FNC1>", GS, " ", "\r\n", "01"]
)


@given(st.lists(st.one_of(_TOKENS, st.text(max_size=6)), max_size=12).map("".join))
def test_normalising_twice_changes_nothing(raw: str) -> None:
    once = normalize(raw)
    assert normalize(once) == once


@given(st.sampled_from(["]d2", "\xe8", "]d2\xe8", ""]), st.sampled_from([GS, "<GS>", "{GS}", "\\u001d", ""]))
def test_every_scanner_spelling_of_a_code_is_the_same_code(prefix: str, sep: str) -> None:
    assert parse(prefix + shoes(sep=sep), Group.SHOES).identity == f"01{SHOE_GTIN}21{SERIAL_13}"


def test_an_sscc_is_read_in_every_usual_form_and_its_check_digit_checked() -> None:
    for raw in (
        "146000000000000012",
        "00146000000000000012",
        "(00)146000000000000012",
        "]C100146000000000000012",
    ):
        assert parse_sscc(raw) == "146000000000000012"
    with pytest.raises(MarkingError, match="not an SSCC"):
        parse_sscc("376130321109103421")  # check digit 1, should be 0
    with pytest.raises(MarkingError, match="not an SSCC"):
        parse_sscc("12345")


def test_a_shipped_line_with_one_good_code_per_unit_is_complete() -> None:
    other = shoes(serial="5a91b93c(13)%")
    line = check_shipped([shoes(), "]d2" + other], qty=2, group=Group.SHOES, gtin=SHOE_GTIN)
    assert line.complete and [c.full for c in line.codes] == [shoes(), other]


def test_each_problem_of_a_shipped_line_is_named() -> None:
    foreign = f"01{BLOCK_GTIN}21{SERIAL_13}{GS}91EE05{GS}92{CRYPTO_88}"
    no_tail = f"01{SHOE_GTIN}21{SERIAL_13}"
    line = check_shipped(
        [shoes(), shoes(sep="<GS>"), foreign, no_tail], qty=3, group=Group.SHOES, gtin=SHOE_GTIN
    )
    kinds = [(p.kind, p.code) for p in line.problems]
    assert kinds == [("duplicate", shoes()), ("foreign", foreign), ("invalid", no_tail), ("missing", None)]
    assert "lacks AI 91" in line.problems[2].detail and "2 of 3 units" in line.problems[3].detail
    surplus = check_shipped(
        [shoes(), shoes(serial="5a91b93c(13)%")], qty=1, group=Group.SHOES, gtin=SHOE_GTIN
    )
    assert [p.kind for p in surplus.problems] == ["surplus"] and not surplus.complete
