"""Detection and masking of personal data (qa_pipeline.text.pii)."""

from __future__ import annotations

import random
import re
import subprocess
import sys

import pytest

from qa_pipeline.text.pii import (
    MaskPolicy,
    detect,
    digit_view,
    id_card_valid,
    luhn_valid,
    mask_message,
    mask_text,
    mask_value,
)

WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CN_DIGITS = "零一二三四五六七八九"


def make_id(rng: random.Random) -> str:
    """A random 18-digit ID number with a correct GB 11643 check character."""
    area, year = rng.randint(110000, 659999), rng.randint(1950, 2010)
    body = f"{area}{year}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True)) % 11]


def luhn_complete(prefix: str) -> str:
    """Append the digit that makes ``prefix`` Luhn-valid."""
    for check in "0123456789":
        digits = [int(c) for c in reversed(prefix + check)]
        total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
        if total % 10 == 0:
            return prefix + check
    raise AssertionError("unreachable")


def make_card(rng: random.Random, length: int = 16) -> str:
    return luhn_complete(rng.choice("3456") + "".join(rng.choice("0123456789") for _ in range(length - 2)))


def make_phone(rng: random.Random) -> str:
    return "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))


def wrong_last(number: str) -> str:
    return number[:-1] + ("1" if number[-1] != "1" else "2")


# --- check digits -------------------------------------------------------------------------------


def test_id_check_digit_valid_and_invalid() -> None:
    assert id_card_valid("410105196207141494")
    assert id_card_valid("11010519491231002X")
    assert id_card_valid("11010519491231002x")
    assert not id_card_valid("410105196207141495")
    assert not id_card_valid("41010519620714149")


def test_luhn() -> None:
    assert luhn_valid("4367426926252483")
    assert luhn_valid("79927398713")
    assert not luhn_valid("4367426926252484")


def test_valid_id_is_masked_invalid_is_not() -> None:
    masked, spans = mask_text("身份证410105196207141494。")
    assert masked == "身份证410***********1494。"
    assert spans == [("id_card", 3, 21)]
    assert mask_text("身份证410105196207141495。") == ("身份证410105196207141495。", [])


def test_id_with_x_check_character() -> None:
    assert mask_text("11010519491231002X")[0] == "110***********002X"
    assert mask_text("一一零一零五一九四九一二三一零零二叉")[0] == "110***********002X"


def test_luhn_valid_card_is_masked() -> None:
    assert mask_text("卡号4367426926252483。") == ("卡号************2483。", [("bank_card", 2, 18)])
    assert mask_text("卡号 4367 4269 2625 2483")[0] == "卡号 **** **** **** 2483"
    assert mask_text("4367-4269-2625-2483")[0] == "****-****-****-2483"


def test_order_number_failing_luhn_is_not_masked() -> None:
    assert not luhn_valid("4367426926252484")
    assert mask_text("订单号4367426926252484") == ("订单号4367426926252484", [])


# --- phones -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("电话13812345678", "电话138****5678"),
        ("138 1234 5678", "138 **** 5678"),
        ("138-1234-5678", "138-****-5678"),
        ("+86 13812345678", "+86 138****5678"),
        ("+86-138-1234-5678", "+86-138-****-5678"),
        ("8613812345678", "86138****5678"),
        ("手机幺三八幺二三四五六七八", "手机138****5678"),
        ("１３８１２３４５６７８", "138****5678"),
        ("14484400390。", "144****0390。"),
    ],
)
def test_phone_forms(text: str, masked: str) -> None:
    out, spans = mask_text(text)
    assert out == masked
    assert [t for t, _, _ in spans] == ["phone"]


@pytest.mark.parametrize(
    "text",
    [
        "订单号913812345678",  # phone inside a longer digit run
        "订单号13812345678901",
        "流水2013812345678",
        "12345678901",  # 12 is not a mobile prefix
        "幺二零零九三八七六一五",
        "1381234567",  # ten digits
        "138-1234-5678-9",
    ],
)
def test_not_a_phone(text: str) -> None:
    assert mask_text(text, types=["phone"]) == (text, [])


def test_chinese_digit_phone_masks_to_ascii_same_length() -> None:
    text = "我的号码是幺三八幺二三四五六七八，谢谢"
    out, spans = mask_text(text)
    assert out == "我的号码是138****5678，谢谢"
    assert len(out) == len(text)
    assert spans == [("phone", 5, 16)]


def test_email() -> None:
    out, spans = mask_text("邮箱zhang.san@example.com，收到回复")
    assert out == "邮箱z********@example.com，收到回复"
    assert spans == [("email", 2, 23)]
    assert mask_text("a@b.cn")[0] == "*@b.cn"
    assert mask_text("13812345678@qq.com")[0] == "1**********@qq.com"


def test_types_filter_and_policy() -> None:
    text = "电话13812345678 卡号4367426926252483"
    out, spans = mask_text(text, types=["bank_card"])
    assert spans == [("bank_card", 16, 32)]
    assert out == "电话13812345678 卡号************2483"
    out, _ = mask_text(text, policy=MaskPolicy(keep_first=0, keep_last=2, card_keep_last=0, mask_char="#"))
    assert out == "电话#########78 卡号################"
    with pytest.raises(ValueError):
        MaskPolicy(keep_first=4, keep_last=4)
    with pytest.raises(ValueError):
        MaskPolicy(mask_char="0")


def test_several_items_keep_offsets() -> None:
    text = "主卡19729792622 身份证510107198903199898，邮箱li@x.cn，卡6258077308687247"
    out, spans = mask_text(text)
    assert len(out) == len(text)
    assert [t for t, _, _ in spans] == ["phone", "id_card", "email", "bank_card"]
    assert out == "主卡197****2622 身份证510***********9898，邮箱l*@x.cn，卡************7247"
    assert [(m.start, m.end) for m in detect(text)] == [(s, e) for _, s, e in spans]


def test_masking_is_idempotent() -> None:
    text = "电话13812345678，身份证410105196207141494，卡号4367426926252483，邮箱wang@example.com"
    once, spans = mask_text(text)
    assert len(spans) == 4
    assert mask_text(once) == (once, [])


def test_text_without_pii_is_unchanged() -> None:
    text = "您好，工号1207为您服务，订单号2024061835529，后四位5532，户号07729164。"
    assert mask_text(text) == (text, [])


# --- property-style: no raw number survives ------------------------------------------------------


def _spoken(number: str) -> str:
    return "".join(CN_DIGITS[int(c)] if c.isdigit() else c for c in number).replace("一", "幺", 1)


def _grouped(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def test_random_valid_numbers_never_survive() -> None:
    rng = random.Random(20240611)
    fillers = ["电话", "，身份证是", "卡号", "。好的，", "号码 ", "是"]
    for _ in range(300):
        numbers = [make_phone(rng), make_id(rng), make_card(rng, rng.choice([16, 19]))]
        forms = [_spoken(numbers[0]) if rng.random() < 0.3 else numbers[0], numbers[1]]
        forms.append(_grouped(numbers[2]) if rng.random() < 0.3 else numbers[2])
        text = "".join(f + n for f, n in zip(rng.sample(fillers, 3), forms, strict=True))
        out, spans = mask_text(text)
        assert len(out) == len(text)
        assert len(spans) == 3, text
        assert re.findall(r"[0-9零一幺二三四五六七八九]{5,}", out.replace(" ", "")) == [], (text, out)
        hidden = sorted(out[s:e].count("*") for _, s, e in spans)
        assert hidden == sorted([4, 11, len(numbers[2]) - 4]), (text, out)


def test_random_invalid_ids_and_cards_are_not_masked() -> None:
    rng = random.Random(7)
    for _ in range(200):
        bad_id, bad_card = wrong_last(make_id(rng)), wrong_last(make_card(rng))
        if bad_id.endswith("X"):
            continue
        text = f"编号{bad_id}，单号{bad_card}"
        if luhn_valid(bad_id):  # an 18-digit string may still be a (Luhn-valid) card number
            continue
        assert mask_text(text) == (text, []), text


@pytest.mark.parametrize(
    "label",
    [
        *("订单号", "订单号是", "运单号：", "工单号为", "快递单号 "),
        *("流水号", "批次号", "订单编号：", "订单号码是"),
    ],
)
def test_phone_shaped_order_numbers_are_not_phones(label: str) -> None:
    text = f"{label}幺七七二零六三八八一五，电话13812345678"
    out, spans = mask_text(text)
    assert out == f"{label}幺七七二零六三八八一五，电话138****5678"
    assert [t for t, _, _ in spans] == ["phone"]


def test_account_numbers_may_be_phones() -> None:
    assert mask_text("账号13812345678")[0] == "账号138****5678"
    assert mask_text("订单号是多少？13812345678")[0] == "订单号是多少？138****5678"


@pytest.mark.parametrize(
    "label",
    [
        *("下单号码是", "我的编号是", "编号", "单号", "单号 "),
        *("手机号", "号码", "下单手机", "手机号订单号", "联系电话，订单号"),
    ],
)
def test_phone_after_a_bare_or_phone_label_is_masked(label: str) -> None:
    text = f"{label}13812345678"
    assert mask_text(text) == (f"{label}138****5678", [("phone", len(label), len(label) + 11)])


# --- separators inside a number (ASR with restored punctuation, chat) ------------------------------


@pytest.mark.parametrize(
    ("text", "masked", "kind"),
    [
        ("138，1234，5678", "138，****，5678", "phone"),
        ("138、1234、5678", "138、****、5678", "phone"),
        ("138.1234.5678", "138.****.5678", "phone"),
        ("138, 1234, 5678", "138, ****, 5678", "phone"),
        ("13812 345678", "138** **5678", "phone"),
        ("1 3 8 1 2 3 4 5 6 7 8", "1 3 8 * * * * 5 6 7 8", "phone"),
        ("幺三八，幺二三四，五六七八", "138，****，5678", "phone"),
        ("110101，19900307，7571", "110***，********，7571", "id_card"),
        ("110105 19491231 002X", "110*** ******** 002X", "id_card"),
        ("6222，0212，3456，7894", "****，****，****，7894", "bank_card"),
        ("6222、0212、3456、7894", "****、****、****、7894", "bank_card"),
    ],
)
def test_numbers_with_separators_are_masked(text: str, masked: str, kind: str) -> None:
    out, spans = mask_text(f"好的，{text}。")
    assert out == f"好的，{masked}。"
    assert spans == [(kind, 3, 3 + len(text))]


def test_prefixed_phone_with_separators() -> None:
    assert mask_text("+86 138，1234，5678") == ("+86 138，****，5678", [("phone", 4, 17)])


@pytest.mark.parametrize(
    "text",
    [
        "日期是2026.03.01，时间10:30",
        "2026.03.01 13.30到店",
        "价格1,280.50元",
        "一共13,812,345,678元",  # a thousands-grouped amount, not a phone
        "我要3个，5个就够了",
        "第1、2、3、4、5、6、7、8、9、10、11条",
        "1、3、5、7、9、11、13、15号都可以",  # 13579111315 has a phone's shape, but not its grouping
        "6222，0212，3456，7890",  # fails the Luhn check
        "110101，19900307，7572",  # wrong check digit
        "138，1234，567",  # ten digits
        "138-1234-5678-9",
    ],
)
def test_ordinary_numbers_with_separators_are_not_masked(text: str) -> None:
    assert mask_text(text) == (text, [])


def test_two_numbers_in_one_run_are_masked_separately() -> None:
    text = "13812345678，13912345678，110101199003077571"
    out, spans = mask_text(text)
    assert out == "138****5678，139****5678，110***********7571"
    assert [t for t, _, _ in spans] == ["phone", "phone", "id_card"]


def test_a_grouped_card_is_not_cut_by_a_phone_inside_it() -> None:
    card = "6839 1006 1860 6804 022"  # 1860 6804 022 alone would be a phone number
    assert luhn_valid(card.replace(" ", ""))
    assert mask_text(f"卡号{card}") == ("卡号**** **** **** ***4 022", [("bank_card", 2, 25)])


# --- telephone-style spoken digits 拐 (7) and 洞 (0) ------------------------------------------------


def test_spoken_yao_guai_dong_digits() -> None:
    assert digit_view("幺拐洞两") == "1702"
    text = "手机幺三八拐洞幺二三四五拐，谢谢"
    out, spans = mask_text(text)
    assert out == "手机138****3457，谢谢"
    assert len(out) == len(text) and spans == [("phone", 2, 13)]
    assert mask_text("身份证幺幺零幺零幺幺九九洞洞三洞拐拐五拐幺")[0] == "身份证110***********7571"


def test_guai_dong_in_words_neither_mask_nor_hide_a_number() -> None:
    text = "前面路口拐弯，有个山洞，系统有漏洞"
    assert mask_text(text) == (text, [])
    assert mask_text("系统漏洞13812345678")[0] == "系统漏洞138****5678"
    assert mask_text("路口拐幺三八幺二三四五六七八")[0] == "路口拐138****5678"


# --- helpers for other modules ---------------------------------------------------------------------


def test_mask_message() -> None:
    message = "conversation '13812345678' (field 'id'): bad value li.lei@example.com, card 4367426926252483"
    assert mask_message(message) == (
        "conversation '138****5678' (field 'id'): bad value l*****@example.com, card ************2483"
    )
    assert mask_message("no personal data, line 12") == "no personal data, line 12"


def test_mask_value_masks_keys_and_keeps_colliding_keys() -> None:
    value = {"13812345678": 1, "13899995678": {"x": "13912345678"}, "138****5678#2": 3, 7: "a@b.cn"}
    assert mask_value(value) == {
        "138****5678": 1,
        "138****5678#2": {"x": "139****5678"},
        "138****5678#2#2": 3,
        7: "*@b.cn",
    }


def test_importing_the_masker_does_not_import_errors() -> None:
    """qa_pipeline.errors imports mask_message, so the masker must not import it back (a cycle)."""
    code = "import sys, qa_pipeline.text.pii; sys.exit('qa_pipeline.errors' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_uuids_are_never_personal_but_phone_numbers_in_ids_are() -> None:
    import uuid

    from qa_pipeline.text.pii import identifier_is_personal

    assert not any(identifier_is_personal(str(uuid.uuid4())) for _ in range(20_000))
    assert not identifier_is_personal("c37a1713-8280-460a-80df-7e050f9c4b37")  # looks like 1713-8280-460…
    assert identifier_is_personal("call-13812345678") and identifier_is_personal("13812345678")


def test_machine_identifiers_keep_their_digits_but_numbers_beside_them_are_masked() -> None:
    job = "ec927466d43045d18012349286d378ab"  # 180 1234 9286: a mobile number's shape inside the hex
    assert mask_value({"file": f"{job}.jsonl", "parent": job}) == {"file": f"{job}.jsonl", "parent": job}
    assert mask_message(f"job {job} failed") == f"job {job} failed"
    assert mask_text(f"工单{job}，电话13812345678")[0] == f"工单{job}，电话138****5678"
    assert mask_text("ab13812345678")[0] == "ab138****5678"  # too short for an identifier
    for client_id in ("fedc1892-6841-480b-a1cb-77b63139a907", "conv-c75ca55c-5010-4ff8-b7ba-14342487276c"):
        assert mask_value({"conversation_id": client_id}) == {"conversation_id": client_id}
    # a number glued to an identifier, or inside hex of another shape, is still masked
    glued = mask_text(f"{job}13812345678")[0]  # no longer an identifier's shape: masked as any text
    assert glued.endswith("138****5678") and "13812345678" not in glued
    assert mask_text("d" * 14 + "110101199003071233")[0] == "d" * 14 + "110***********1233"


def test_the_quick_precheck_never_skips_a_text_that_holds_a_number(monkeypatch: pytest.MonkeyPatch) -> None:
    """Texts with too few digit characters skip detection; on digit-dense texts (phone numbers, IDs
    and cards in Arabic, Chinese, full-width and spoken digits, with separators) the masked texts are
    those of the full detection."""
    import qa_pipeline.text.pii as pii

    rnd = random.Random(5)
    digits = "0123456789一二三四五六七八九零幺两拐洞０１２３４５６７８９"
    fillers = [" ", "-", "、", "，", "号码是", "手机", "@", "＠", "a.b", "x"]

    def text() -> str:
        parts = [rnd.choice(digits) for _ in range(rnd.randint(5, 22))]
        if rnd.random() < 0.5:  # a mobile number's start: 1[3-9]
            parts[:2] = [rnd.choice("1一幺１"), rnd.choice("3456789三四五六七八九")]
        for _ in range(rnd.randint(0, 3)):
            parts.insert(rnd.randrange(len(parts) + 1), rnd.choice(fillers))
        return "".join(parts)

    texts = [text() for _ in range(20_000)] + ["电话1３８0013８000", "幺三八零零幺三八零零零", "a@b.cn"]
    quick = [mask_text(t) for t in texts]
    monkeypatch.setattr(pii, "_may_hold", lambda _text: True)
    assert quick == [mask_text(t) for t in texts]
    assert sum(bool(spans) for _, spans in quick) > 1_000  # the comparison saw many numbers
