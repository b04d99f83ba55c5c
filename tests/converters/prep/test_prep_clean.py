from __future__ import annotations

import pytest

from converters.prep.clean import KEPT_FULLWIDTH, clean_text, id_checksum_ok, length_ok, scrub_pii


# --- clean_text -----------------------------------------------------------------

def test_html_tags_removed_block_tags_become_line_breaks():
    raw = "<p>咽痛三天</p><p>伴<b>发热</b>&nbsp;38.5&#8451;</p><div>建议&amp;休息</div>"
    assert clean_text(raw) == "咽痛三天\n伴发热 38.5℃\n建议&休息"


def test_script_style_and_comments_dropped_with_content():
    raw = "<style>p{color:red}</style>头晕<!-- 编辑备注 --><script>alert('x')</script>乏力"
    assert clean_text(raw) == "头晕乏力"


def test_medical_angle_brackets_and_escaped_markup_survive():
    assert clean_text("血压<140/90mmHg，结节<5mm") == "血压<140/90mmHg，结节<5mm"
    # escaped markup is content: unescaped after tag removal, not removed
    assert clean_text("用&lt;br&gt;换行") == "用<br>换行"


def test_control_and_zero_width_characters_removed_newline_and_tab_kept():
    raw = "头\x00痛\x07\u200b怎么办\ufeff\x1b？\n第二行\t有制表符"
    assert clean_text(raw) == "头痛怎么办？\n第二行 有制表符"   # the tab survives, then collapses like spaces


def test_fullwidth_ascii_mapped_except_chinese_punctuation():
    raw = "ＣＴ显示肺部结节１２ｍｍ，ＨＢ＝１１０ｇ／Ｌ（偏低）！要复查吗？注意：每日２次；“多喝水”。"
    assert clean_text(raw) == "CT显示肺部结节12mm，HB=110g/L（偏低）！要复查吗？注意：每日2次；“多喝水”。"


@pytest.mark.parametrize("code", range(0xFF01, 0xFF5F))
def test_every_fullwidth_character_in_the_documented_range(code):
    char = chr(code)
    expected = char if char in KEPT_FULLWIDTH else chr(code - 0xFEE0)
    assert clean_text(f"甲{char}乙") == f"甲{expected}乙"


def test_kept_set_is_exactly_the_documented_punctuation():
    assert sorted(KEPT_FULLWIDTH) == sorted("！（），：；？")


def test_ideographic_and_nbsp_spaces_become_one_space():
    assert clean_text("发热\u3000\u3000三天\u00a0了") == "发热 三天 了"


def test_whitespace_runs_lines_and_blank_lines():
    raw = "  第一行   有  空格 \r\n\r\n\r\n\r\n  第二行\t\t末尾  \n\n\n\n\n第三行  "
    assert clean_text(raw) == "第一行 有 空格\n\n第二行 末尾\n\n第三行"
    assert clean_text("a\n\nb") == "a\n\nb"          # one blank line stays
    assert clean_text(" \n \t\n") == ""


# --- scrub_pii ------------------------------------------------------------------

ZERO = {"mobile": 0, "landline": 0, "id_card": 0, "email": 0}


@pytest.mark.parametrize("phone", ["13812345678", "+8613812345678", "+86 138 1234 5678", "86-138-1234-5678",
                                   "138-1234-5678", "138 1234 5678", "0086 19912345678"])
def test_mobile_numbers_in_several_layouts(phone):
    text, counts = scrub_pii(f"我的手机{phone}，请回电")
    assert text == "我的手机[手机号]，请回电"
    assert counts == {**ZERO, "mobile": 1}


@pytest.mark.parametrize("phone", ["010-12345678", "0571-8765432", "02112345678", "(021)12345678", "（0755）8765432"])
def test_landlines(phone):
    text, counts = scrub_pii(f"科室电话{phone}。")
    assert text == "科室电话[电话]。"
    assert counts == {**ZERO, "landline": 1}


@pytest.mark.parametrize("text", [
    "化验单编号2138123456789",        # a mobile glued to digits on both sides
    "样本号913812345678",             # digit before
    "1381234567890号床",              # digits after
    "12812345678",                    # second digit 2: not a mobile prefix
    "检验值3.13812345678",            # decimal fraction
    "订单202312345678901234567",      # 21 digits
])
def test_numbers_glued_to_other_digits_are_not_pii(text):
    assert scrub_pii(text) == (text, ZERO)


def test_id_card_valid_checksum_with_x():
    assert id_checksum_ok("11010519491231002X") and id_checksum_ok("11010519491231002x")
    text, counts = scrub_pii("身份证号11010519491231002X，姓名略")
    assert text == "身份证号[身份证号]，姓名略" and counts["id_card"] == 1


def test_id_card_rule_is_checksum_or_plausible_date():
    valid_check_bad_date = "440304199013451236"     # month 13, but the check digit is right
    bad_check_good_date = "440304199003071235"      # 1990-03-07, check should be X (typo)
    neither = "440304199013451230"                  # month 13 and a wrong check digit
    assert id_checksum_ok(valid_check_bad_date) and not id_checksum_ok(bad_check_good_date)
    text, counts = scrub_pii(f"A:{valid_check_bad_date} B:{bad_check_good_date} C:{neither}")
    assert text == f"A:[身份证号] B:[身份证号] C:{neither}"
    assert counts == {**ZERO, "id_card": 2}


def test_email_and_digits_inside_an_email_are_not_a_phone():
    text, counts = scrub_pii("发到 zhang.san+qa@example.com.cn 或 13812345678@qq.com，谢谢")
    assert text == "发到 [邮箱] 或 [邮箱]，谢谢"
    assert counts == {**ZERO, "email": 2}


def test_mixed_text_counts_every_kind():
    raw = "患者王某，电话139-0000-1111，家里010-88886666，身份证11010519491231002X，邮箱wang@test.org。"
    text, counts = scrub_pii(raw)
    assert text == "患者王某，电话[手机号]，家里[电话]，身份证[身份证号]，邮箱[邮箱]。"
    assert counts == {"mobile": 1, "landline": 1, "id_card": 1, "email": 1}


def test_text_without_pii_unchanged_and_medical_numbers_untouched():
    raw = "血压150/95mmHg，空腹血糖7.8mmol/L，布洛芬每次200mg，2023-10-01复查。"
    assert scrub_pii(raw) == (raw, ZERO)


# --- length_ok ------------------------------------------------------------------

def test_length_ok_bounds_and_reasons():
    assert length_ok("头痛怎么办？", 2, 10) is None
    assert length_ok("  头痛  ", 2, 10) is None                 # counted after strip: 2 characters
    assert length_ok("痛", 2, 10) == "too short: 1 < 2 characters"
    assert length_ok("很" * 11, 2, 10) == "too long: 11 > 10 characters"
    assert length_ok("   ", 1, 10) == "too short: 0 < 1 characters"
    assert length_ok("很" * 1000, 1, None) is None
    assert length_ok("", None, 5) is None
    with pytest.raises(ValueError):
        length_ok("x", 10, 5)
